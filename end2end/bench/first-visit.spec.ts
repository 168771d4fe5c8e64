import { Browser, Cookie, expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import { signIn } from '../tests/helpers';

// A first visit, as a person opening a link on a fresh browser: an empty cache,
// the page's own requests only. For `/login` (signed out) and `/executions`
// (signed in; the session cookie is copied into the fresh context, nothing else)
// it counts what the site's code costs on the wire — the wasm, JS and CSS under
// /pkg/, compressed as served (Chromium asks for brotli) — and the time from
// navigation start to hydrated (`body[data-hydrated]`, set once the wasm ran).

const VISITS = Number(process.env.FIRST_VISIT_RUNS ?? 5);

interface Visit {
  codeBytes: number;
  files: string[];
  hydratedMs: number;
}

async function firstVisit(browser: Browser, path: string, cookies: Cookie[]): Promise<Visit> {
  const context = await browser.newContext();
  await context.addCookies(cookies);
  const page = await context.newPage();
  const code: Promise<[string, number]>[] = [];
  page.on('requestfinished', (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/pkg/')) {
      code.push(request.sizes().then((sizes) => [url.pathname, sizes.responseBodySize]));
    }
  });
  await page.goto(path);
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  const hydratedMs = await page.evaluate(() => performance.now());
  // Whatever the page still fetches once hydrated counts too (lazily loaded code).
  await page.waitForLoadState('networkidle');
  const files = await Promise.all(code);
  await context.close();
  return {
    codeBytes: files.reduce((sum, [, bytes]) => sum + bytes, 0),
    files: files.map(([name, bytes]) => `${name} ${bytes}`),
    hydratedMs,
  };
}

function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

test('first visit: code downloaded and time to hydrated', async ({ page, browser }) => {
  await signIn(page);
  const session = await page.context().cookies();
  const results = [];
  const pages: [string, Cookie[]][] = [['/login', []], ['/executions', session]];
  for (const [path, cookies] of pages) {
    const visits: Visit[] = [];
    for (let visit = 0; visit < VISITS; visit++) {
      visits.push(await firstVisit(browser, path, cookies));
    }
    results.push({
      path,
      visits: visits.length,
      code_bytes: median(visits.map((visit) => visit.codeBytes)),
      files: visits[0].files,
      hydrated_ms_median: median(visits.map((visit) => visit.hydratedMs)),
      hydrated_ms_max: Math.max(...visits.map((visit) => visit.hydratedMs)),
    });
  }
  const report = JSON.stringify(results, null, 2);
  console.log(report);
  fs.mkdirSync('test-results', { recursive: true });
  fs.writeFileSync('test-results/first-visit.json', report);
  for (const result of results) {
    expect(result.code_bytes, `${result.path} downloaded no site code`).toBeGreaterThan(0);
  }
});
