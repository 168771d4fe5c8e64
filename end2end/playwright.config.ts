import { defineConfig } from '@playwright/test';
import * as path from 'node:path';

// The suite runs against the release site (`scripts/test` builds it first) and the server
// in SLIPWAY_BIN: `scripts/test` sets it to the one `cargo test` built (.cargo/config.toml
// gives both the same erased views and site name); unset, the release server.
const workspace = path.resolve(__dirname, '..');
const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(workspace, 'target');
export const slipway = process.env.SLIPWAY_BIN ?? path.join(targetDir, 'release', 'slipway');
export const siteRoot = path.join(workspace, 'target', 'site');
const port = process.env.SLIPWAY_E2E_PORT ?? '3917';
const standinsDir = path.join(targetDir, 'debug');
const hubPort = process.env.SLIPWAY_E2E_HUB_PORT ?? '3918';
const kubePort = process.env.SLIPWAY_E2E_KUBE_PORT ?? '3919';
export const hubUrl = `http://127.0.0.1:${hubPort}`;
export const kubeUrl = `http://127.0.0.1:${kubePort}`;
export const hubUser = 'svendowideit';
export const hubPassword = 'hub-e2e-password';
export const kubeToken = 'kube-e2e-token';
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
  webServer: [
    {
      // The Docker Hub API stand-in (end2end/standins).
      command: `"${path.join(standinsDir, 'hub-standin')}" --listen 127.0.0.1:${hubPort} --username ${hubUser} --password ${hubPassword}`,
      url: `${hubUrl}/_standin/calls`,
      reuseExistingServer: false,
      stdout: 'ignore',
    },
    {
      // The Kubernetes API stand-in (end2end/standins).
      command: `"${path.join(standinsDir, 'kube-standin')}" --listen 127.0.0.1:${kubePort} --token ${kubeToken} --readonly-token kube-readonly --rollout-delay-ms 100`,
      url: `${kubeUrl}/_standin/requests`,
      reuseExistingServer: false,
      stdout: 'ignore',
    },
    {
      // Slipway itself, on a fresh data directory with a known administrator password.
      command: [
        'set -e',
        'DATA_DIR=$(mktemp -d)',
        `printf '%s\\n' "$E2E_PASSWORD" | "$SLIPWAY" user set-password --user ${adminUser} --role admin --data-dir "$DATA_DIR"`,
        `exec "$SLIPWAY" serve --listen 127.0.0.1:${port} --data-dir "$DATA_DIR" --docker-hub-api-url ${hubUrl} --docker-hub-registry-url ${hubUrl}`,
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
        LEPTOS_SITE_ROOT: siteRoot,
        RUST_LOG: 'warn',
      },
    },
  ],
});
