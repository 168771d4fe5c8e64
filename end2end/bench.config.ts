import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// Benchmarks in the browser: the same servers as the test suite, run on demand
// (`npx playwright test --config bench.config.ts`), never as part of the tests.
export default defineConfig({
  ...base,
  testDir: './bench',
  timeout: 300_000,
});
