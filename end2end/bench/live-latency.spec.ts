import { expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from '../tests/helpers';

// Server event → DOM update, measured in headless Chromium: the server's own
// timestamps (a run's created_at / finished_at, a log line's `at`) against the
// wall-clock time a MutationObserver saw the change on the open page. Both
// clocks are this machine's.

const RUNS = Number(process.env.LIVE_BENCH_RUNS ?? 100);
const POLL_ATTEMPTS = Number(process.env.LIVE_BENCH_LOG_LINES ?? 30);

function percentile(values: number[], p: number) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(name: string, values: number[]) {
  return {
    name,
    samples: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    max: Math.max(...values),
  };
}

test('server event to DOM latency', async ({ page, baseURL }) => {
  await signIn(page);
  const token = await createToken(page, `bench-${Date.now()}`);
  const auth = { Authorization: `Bearer ${token}` };
  const project = uniqueName('Latency');
  await apiCreate(page.request, token, 'projects', { name: project });
  const quick = await apiCreate(page.request, token, 'pipelines', {
    project,
    name: 'quick',
    stages: [{ name: 'check', tasks: [{ name: 'holds', type: 'condition', expression: '1 == 1' }] }],
  });
  const polling = await apiCreate(page.request, token, 'pipelines', {
    project,
    name: 'polling',
    stages: [
      {
        name: 'wait',
        tasks: [
          {
            name: 'poll',
            type: 'poll',
            url: `${baseURL}/healthz`,
            condition: "$.status == 'never'",
            interval_seconds: 1,
            max_attempts: POLL_ATTEMPTS,
            timeout_seconds: POLL_ATTEMPTS + 30,
          },
        ],
      },
    ],
  });

  // 1. The Executions page: a new run's row, and its final state.
  await page.goto('/executions');
  await hydrated(page);
  await page.evaluate(() => {
    const seen: Record<string, number> = {};
    (window as any).__seen = seen;
    const scan = () => {
      const now = performance.timeOrigin + performance.now();
      document.querySelectorAll('tr[data-execution]').forEach((row) => {
        const status = row.querySelector('[data-status]')?.getAttribute('data-status');
        const key = `${row.getAttribute('data-execution')}:${status}`;
        if (!(key in seen)) seen[key] = now;
      });
    };
    new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.waitForTimeout(1000); // the stream is open and the page has caught up

  const appeared: number[] = [];
  const completed: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const answer = await page.request.post(`/api/v1/pipelines/${quick.id}/executions`, { headers: auth, data: { inputs: {} } });
    expect(answer.status()).toBe(201);
    const { id } = await answer.json();
    await expect
      .poll(() => page.evaluate((id) => (window as any).__seen[`${id}:COMPLETED`] ?? null, id), { timeout: 10_000 })
      .not.toBeNull();
    const run = await (await page.request.get(`/api/v1/executions/${id}`, { headers: auth })).json();
    const seen = await page.evaluate((id) => {
      const entries = Object.entries((window as any).__seen as Record<string, number>);
      const mine = entries.filter(([key]) => key.startsWith(`${id}:`)).map(([, at]) => at);
      return { first: Math.min(...mine), completed: (window as any).__seen[`${id}:COMPLETED`] };
    }, id);
    appeared.push(seen.first - run.created_at);
    completed.push(seen.completed - run.finished_at);
    await page.waitForTimeout(250); // one run at a time: each change is its own event
  }

  // 2. The runtime view: log lines as the Poll task writes them.
  const answer = await page.request.post(`/api/v1/pipelines/${polling.id}/executions`, { headers: auth, data: { inputs: {} } });
  const { id: pollRun } = await answer.json();
  await page.goto(`/executions/${pollRun}`);
  await hydrated(page);
  await page.evaluate(() => {
    const lines: Record<string, number> = {};
    (window as any).__lines = lines;
    new MutationObserver(() => {
      const now = performance.timeOrigin + performance.now();
      document.querySelectorAll('li[data-line]').forEach((line) => {
        const id = line.getAttribute('data-line')!;
        if (!(id in lines)) lines[id] = now;
      });
    }).observe(document.body, { subtree: true, childList: true });
  });
  await expect(page.getByTestId('execution-status')).toContainText(/FAILED|COMPLETED/, { timeout: (POLL_ATTEMPTS + 20) * 1000 });
  const run = await (await page.request.get(`/api/v1/executions/${pollRun}`, { headers: auth })).json();
  const seenLines: Record<string, number> = await page.evaluate(() => (window as any).__lines);
  const logLatency: number[] = [];
  for (const line of run.stages[0].tasks[0].log) {
    // Lines written before the page opened arrive with the fetch, not the stream.
    if (seenLines[line.id] !== undefined && line.at > run.started_at + 1500) {
      logLatency.push(seenLines[line.id] - line.at);
    }
  }

  const results = [
    summary('new run → its row on Executions (ms)', appeared),
    summary('run finished → COMPLETED on Executions (ms)', completed),
    summary('log line stored → shown in the runtime view (ms)', logLatency),
  ];
  console.table(results);
  fs.mkdirSync('test-results', { recursive: true });
  fs.writeFileSync('test-results/live-latency.json', JSON.stringify(results, null, 2));
  expect(logLatency.length).toBeGreaterThan(POLL_ATTEMPTS / 2);
});
