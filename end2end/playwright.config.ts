import { defineConfig } from '@playwright/test';
import * as path from 'node:path';

// The suite runs against the real release build: `scripts/test` builds it first.
const workspace = path.resolve(__dirname, '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(workspace, 'target');
const slipway = process.env.SLIPWAY_BIN ?? path.join(targetDir, 'release', 'slipway');
const port = process.env.SLIPWAY_E2E_PORT ?? '3917';
export const adminUser = 'e2e-admin';
export const adminPassword = process.env.SLIPWAY_E2E_PASSWORD ?? 'e2e-password-123';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      // Debian's Chromium: Playwright's own browser download is not reachable here.
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: {
    // A fresh data directory per run, with a known administrator password.
    command: [
      'set -e',
      'DATA_DIR=$(mktemp -d)',
      `printf '%s\\n' "$E2E_PASSWORD" | "$SLIPWAY" user set-password --user ${adminUser} --role admin --data-dir "$DATA_DIR"`,
      `exec "$SLIPWAY" serve --listen 127.0.0.1:${port} --data-dir "$DATA_DIR"`,
    ].join('; '),
    cwd: workspace,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      SLIPWAY: slipway,
      E2E_PASSWORD: adminPassword,
      LEPTOS_SITE_ROOT: path.join(workspace, 'target', 'site'),
      RUST_LOG: 'warn',
    },
  },
});
