import { expect, test } from '@playwright/test';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { adminPassword, adminUser, siteRoot, slipway } from '../playwright.config';
import { apiCreate, createToken, expectSameDocument, hydrated, markDocument, signIn, uniqueName } from './helpers';

// A server of its own, so this test can stop and start it under an open page.
const port = process.env.SLIPWAY_E2E_RESTART_PORT ?? '3920';
const origin = `http://127.0.0.1:${port}`;

test.use({ baseURL: origin });

async function start(dataDir: string): Promise<ChildProcess> {
  const server = spawn(slipway, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    env: { ...process.env, LEPTOS_SITE_ROOT: siteRoot, RUST_LOG: 'warn' },
    stdio: 'ignore',
  });
  await expect
    .poll(async () => (await fetch(`${origin}/healthz`).catch(() => null))?.status ?? 0, { timeout: 15_000 })
    .toBe(200);
  return server;
}

async function stop(server: ChildProcess) {
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
}

test('an open page reconnects after a server restart and catches up without a reload', async ({ page }) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'slipway-restart-'));
  const setPassword = spawnSync(
    slipway,
    ['user', 'set-password', '--user', adminUser, '--role', 'admin', '--data-dir', dataDir],
    { input: `${adminPassword}\n` },
  );
  expect(setPassword.status, String(setPassword.stderr)).toBe(0);
  let server = await start(dataDir);
  try {
    await signIn(page);
    const token = await createToken(page, `restart-${Date.now()}`);
    const project = uniqueName('Restart');
    await apiCreate(page.request, token, 'projects', { name: project });
    const pipeline = await apiCreate(page.request, token, 'pipelines', {
      project,
      name: 'quick',
      stages: [{ name: 'check', tasks: [{ name: 'holds', type: 'condition', expression: '1 == 1' }] }],
    });

    await page.goto('/executions');
    await hydrated(page);
    await markDocument(page);
    const live = page.locator('[data-live]');
    await expect(live).toHaveAttribute('data-live', 'open');

    // The server goes away: the page says so, and keeps what it shows.
    await stop(server);
    await expect(live).toHaveAttribute('data-live', 'connecting');
    await expect(live).toContainText('Connecting');

    // It comes back, and a run is queued right away: the page reconnects by
    // itself and shows the run, whether it saw the event or refetched on reconnect.
    server = await start(dataDir);
    const run = await apiCreate(page.request, token, `pipelines/${pipeline.id}/executions`, { inputs: {} });
    await expect(live).toHaveAttribute('data-live', 'open', { timeout: 15_000 });
    const row = page.locator(`tr[data-execution="${run.id}"]`);
    await expect(row.locator('[data-status]')).toHaveAttribute('data-status', 'COMPLETED', { timeout: 15_000 });
    await expectSameDocument(page);
  } finally {
    await stop(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
