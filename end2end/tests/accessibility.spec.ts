import { APIRequestContext, Browser, expect, Page, test } from '@playwright/test';
import { hubPassword, hubUrl, hubUser, kubeToken, kubeUrl } from '../playwright.config';
import { hydrated, signIn, uniqueName } from './helpers';

// Accessibility checks on the main pages, wide and narrow:
// - every visible input, select and textarea has a name from a label, aria-label or
//   aria-labelledby (a placeholder is not a label);
// - every visible button and link has an accessible name;
// - the page does not scroll sideways;
// - every visible, enabled control is reached with Tab, and shows a focus style
//   (outline or box-shadow) that differs from its unfocused look.

/** A lower-case suffix, for names Kubernetes and Docker Hub also have to accept. */
function suffix() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

/** What the pages are checked with: made once, through the API, with a token made on its page. */
const data = { project: '', pipelineId: 0, executionId: 0 };

async function api(request: APIRequestContext, token: string, method: 'get' | 'post', path: string, body?: unknown) {
  const answer = await request[method](`/api/v1/${path}`, {
    headers: { Authorization: `Bearer ${token}` },
    data: body,
  });
  expect(answer.ok(), `${method} ${path}: ${await answer.text()}`).toBeTruthy();
  return answer.json();
}

async function makeData(browser: Browser, baseURL: string) {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await signIn(page);
  await page.goto('/settings/tokens');
  await hydrated(page);
  const tokenName = `a11y-${suffix()}`;
  await page.getByLabel('Name', { exact: true }).fill(tokenName);
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = ((await page.getByTestId('new-token').textContent()) ?? '').trim();
  const request = page.request;

  const project = uniqueName('Accessible');
  await api(request, token, 'post', 'projects', { name: project, description: 'Accessibility checks' });
  const cluster = `cluster-${suffix()}`;
  await api(request, token, 'post', 'endpoints', {
    project,
    name: cluster,
    kind: 'kubernetes',
    url: kubeUrl,
    token: kubeToken,
    namespace: 'default',
  });
  const registry = `hub-${suffix()}`;
  await api(request, token, 'post', 'endpoints', {
    project,
    name: registry,
    kind: 'docker-registry',
    server_type: 'docker-hub',
    url: 'https://index.docker.io/v1/',
    username: hubUser,
    password: hubPassword,
  });
  const deployment = `a11y-${suffix()}`;
  const yaml = [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${deployment}`,
    'spec:',
    '  replicas: 1',
    '  selector:',
    '    matchLabels:',
    `      app: ${deployment}`,
    '  template:',
    '    metadata:',
    '      labels:',
    `        app: ${deployment}`,
    '    spec:',
    '      containers:',
    '        - name: web',
    '          image: ${input.DOCKER_IMAGE}:${input.DOCKER_TAG}',
    '',
  ].join('\n');
  const pipelineName = uniqueName('Accessible deploy');
  const pipeline = await api(request, token, 'post', 'pipelines', {
    project,
    name: pipelineName,
    inject_docker_parameters: true,
    inputs: [{ name: 'REPLICAS', default: '1', description: 'How many pods' }],
    stages: [
      { name: 'deploy', tasks: [{ name: 'web', type: 'kubernetes', endpoint: cluster, action: 'CREATE', yaml }] },
      { name: 'check', tasks: [{ name: 'gate', type: 'condition', expression: "'${input.REPLICAS}' == '1'" }] },
    ],
  });
  const hook = await api(request, token, 'post', 'webhooks/docker', {
    project,
    name: `hook-${suffix()}`,
    endpoint: registry,
    pipeline: pipelineName,
    api_token: token,
    image: 'svendowideit/testhook',
    tag: '',
  });
  // A push gives an Activity row and a run with a Kubernetes task.
  const pushed = await request.post(`${hubUrl}/_standin/push`, { data: { hook_url: hook.hook_url, tag: 'a11y' } });
  expect(pushed.status()).toBe(202);
  const { execution_id: executionId } = await pushed.json();
  await expect
    .poll(async () => (await api(request, token, 'get', `executions/${executionId}`)).status, { timeout: 15_000 })
    .toBe('COMPLETED');
  await context.close();
  Object.assign(data, { project, pipelineId: pipeline.id, executionId });
}

test.beforeAll(async ({ browser, baseURL }) => {
  test.setTimeout(60_000);
  await makeData(browser, baseURL!);
});

/** Visible form fields without a label, and buttons and links without a name. */
async function unnamed(page: Page) {
  return page.evaluate(() => {
    const visible = (element: Element) =>
      element.checkVisibility({ visibilityProperty: true, opacityProperty: false }) &&
      element.getBoundingClientRect().width > 0 &&
      element.getBoundingClientRect().height > 0;
    const describe = (element: Element) => element.outerHTML.replace(/\s+/g, ' ').slice(0, 160);
    const textOf = (node: Node): string => {
      if (node.nodeType === Node.TEXT_NODE) return node.textContent ?? '';
      if (!(node instanceof Element)) return '';
      if (node.getAttribute('aria-hidden') === 'true') return '';
      const style = getComputedStyle(node);
      if (style.display === 'none' || style.visibility === 'hidden') return '';
      const label = node.getAttribute('aria-label');
      if (label?.trim()) return label;
      if (node instanceof HTMLImageElement) return node.alt;
      return [...node.childNodes].map(textOf).join('');
    };
    const labelledBy = (element: Element) =>
      (element.getAttribute('aria-labelledby') ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((id) => document.getElementById(id)?.textContent ?? '')
        .join(' ');
    const problems: string[] = [];
    for (const field of document.querySelectorAll('input, select, textarea')) {
      if (field instanceof HTMLInputElement && ['hidden', 'submit', 'button', 'reset'].includes(field.type)) continue;
      if (!visible(field)) continue;
      const labels = [...((field as HTMLInputElement).labels ?? [])].map(textOf).join(' ');
      const name = [field.getAttribute('aria-label') ?? '', labelledBy(field), labels].join(' ').trim();
      if (!name) problems.push(`field without a label: ${describe(field)}`);
    }
    for (const control of document.querySelectorAll('button, a[href], [role="button"], [role="switch"], [role="tab"], summary')) {
      if (!visible(control)) continue;
      const name = [labelledBy(control), textOf(control), control.getAttribute('title') ?? ''].join(' ').trim();
      if (!name) problems.push(`control without a name: ${describe(control)}`);
    }
    return problems;
  });
}

/** The page's scroll width, and the elements sticking out on the right (innermost first). */
async function horizontalOverflow(page: Page) {
  return page.evaluate(() => {
    const scrolling = document.scrollingElement!;
    const clipped = (element: Element) => {
      for (let parent = element.parentElement; parent; parent = parent.parentElement) {
        if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(parent).overflowX)) return true;
      }
      return false;
    };
    const outside = [...document.body.querySelectorAll('*')]
      .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 1 && !clipped(element))
      .filter((element, _, all) => !all.some((other) => other !== element && element.contains(other)))
      .slice(0, 5)
      .map((element) => element.outerHTML.replace(/\s+/g, ' ').slice(0, 160));
    return { scrollWidth: scrolling.scrollWidth, innerWidth: window.innerWidth, outside };
  });
}

/**
 * Walks the page with Tab from the top. Answers the visible, enabled controls Tab never
 * reached, and the reached ones whose focused look (outline, box-shadow) equals their
 * unfocused look.
 */
async function keyboardWalk(page: Page) {
  await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    window.scrollTo(0, 0);
    const w = window as unknown as { __walk: unknown[]; __look: (element: Element) => string };
    w.__walk = [];
    w.__look = (element) => {
      const style = getComputedStyle(element);
      return `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor} | ${style.boxShadow}`;
    };
  });
  // Start from the document, or from a modal dialog when one is open: the first Tab
  // goes to the first control.
  const modal = page.locator('[aria-modal="true"]');
  const inModal = (await modal.count()) > 0;
  if (inModal) await modal.focus();
  else {
    // A focusable-by-script mark before everything: Tab from it reaches the first control.
    await page.evaluate(() => {
      const start = document.createElement('span');
      start.tabIndex = -1;
      start.id = 'a11y-walk-start';
      document.body.prepend(start);
      start.focus();
    });
  }
  let steps = 0;
  const limit = await page.evaluate(() => document.querySelectorAll('a, button, input, select, textarea, summary, [tabindex]').length + 5);
  while (steps < limit) {
    await page.keyboard.press('Tab');
    steps += 1;
    const done = await page.evaluate(() => {
      const lookOf = (window as unknown as { __look: (element: Element) => string }).__look;
      const walk = (window as unknown as { __walk: { element: Element; focused: string }[] }).__walk;
      const active = document.activeElement;
      if (!active || active === document.body) return walk.length > 0;
      if (walk.some((entry) => entry.element === active)) return true;
      walk.push({ element: active, focused: lookOf(active) });
      return false;
    });
    if (done) break;
  }
  return page.evaluate((inModal) => {
    const scope: Element = (inModal && document.querySelector('[aria-modal="true"]')) || document.body;
    const lookOf = (window as unknown as { __look: (element: Element) => string }).__look;
    const walk = (window as unknown as { __walk: { element: Element; focused: string }[] }).__walk;
    (document.activeElement as HTMLElement | null)?.blur();
    document.getElementById('a11y-walk-start')?.remove();
    const describe = (element: Element) => element.outerHTML.replace(/\s+/g, ' ').slice(0, 160);
    const noFocusStyle = walk
      .filter((entry) => {
        const unfocused = lookOf(entry.element);
        return unfocused === entry.focused;
      })
      .map((entry) => `no visible focus style: ${describe(entry.element)}`);
    const escaped = walk
      .filter((entry) => !scope.contains(entry.element))
      .map((entry) => `Tab left the modal dialog for: ${describe(entry.element)}`);
    const reached = new Set(walk.map((entry) => entry.element));
    const unreached = [...scope.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex="0"]')]
      .filter((element) => {
        if (element instanceof HTMLInputElement && element.type === 'hidden') return false;
        if ((element as HTMLButtonElement).disabled) return false;
        if (element.closest('[inert]')) return false;
        const rect = element.getBoundingClientRect();
        return element.checkVisibility({ visibilityProperty: true }) && rect.width > 0 && rect.height > 0;
      })
      // A radio group is one Tab stop: one of its radios reached is enough.
      .filter((element) => {
        if (!(element instanceof HTMLInputElement) || element.type !== 'radio' || !element.name) return true;
        return ![...reached].some((other) => other instanceof HTMLInputElement && other.type === 'radio' && other.name === element.name);
      })
      .filter((element) => !reached.has(element))
      .map((element) => `not reached with Tab: ${describe(element)}`);
    return [...escaped, ...unreached, ...noFocusStyle];
  }, inModal);
}

/**
 * `nav`: reach the page through that link of the main navigation (a client-side move)
 * instead of loading it.
 */
type Screen = { name: string; path: () => string; nav?: string; open?: (page: Page) => Promise<void> };

const screens: Screen[] = [
  { name: 'projects', path: () => '/projects' },
  { name: 'endpoints', path: () => '/endpoints' },
  {
    name: 'endpoint form (Kubernetes)',
    path: () => '/endpoints',
    open: async (page) => {
      await page.getByRole('button', { name: 'New endpoint' }).click();
      await page.getByLabel('Kubernetes').check();
    },
  },
  {
    name: 'endpoint form (Docker registry)',
    path: () => '/endpoints',
    open: async (page) => {
      await page.getByRole('button', { name: 'New endpoint' }).click();
    },
  },
  { name: 'pipelines', path: () => '/pipelines' },
  { name: 'pipeline editor, General', path: () => `/pipelines/${data.pipelineId}` },
  {
    name: 'pipeline editor, Input',
    path: () => `/pipelines/${data.pipelineId}`,
    open: async (page) => page.getByRole('tab', { name: 'Input' }).click(),
  },
  {
    name: 'pipeline editor, Workspace',
    path: () => `/pipelines/${data.pipelineId}`,
    open: async (page) => {
      await page.getByRole('tab', { name: 'Workspace' }).click();
      await expect(page.getByLabel('Task name').first()).toBeVisible();
    },
  },
  {
    name: 'pipeline editor, YAML',
    path: () => `/pipelines/${data.pipelineId}`,
    open: async (page) => page.getByRole('tab', { name: 'YAML' }).click(),
  },
  {
    name: 'run dialog',
    path: () => `/pipelines/${data.pipelineId}`,
    open: async (page) => {
      await page.getByRole('button', { name: 'Run', exact: true }).click();
      await expect(page.getByRole('dialog')).toBeVisible();
    },
  },
  { name: 'webhooks', path: () => '/triggers/docker' },
  {
    name: 'webhook form',
    path: () => '/triggers/docker',
    open: async (page) => {
      await page.getByRole('button', { name: 'New webhook for Docker' }).click();
      await page.getByLabel('Project').selectOption({ label: data.project });
    },
  },
  { name: 'activity', path: () => '/triggers/docker/activity' },
  { name: 'audit', path: () => '/audit' },
  { name: 'your account', path: () => '/settings/account' },
  { name: 'executions', path: () => '/executions' },
  {
    name: 'an execution',
    path: () => `/executions/${data.executionId}`,
    open: async (page) => {
      await page.locator('button[data-task="web"]').click();
      await expect(page.getByTestId('kubernetes-objects')).toBeVisible();
    },
  },
];

for (const viewport of [
  { name: 'wide', width: 1280, height: 720 },
  { name: 'narrow', width: 390, height: 844 },
]) {
  test.describe(`${viewport.name} (${viewport.width}×${viewport.height})`, () => {
    test.use({ viewport: { width: viewport.width, height: viewport.height } });

    for (const screen of screens) {
      test(`${screen.name}: names, no sideways scrolling, keyboard focus`, async ({ page }) => {
        await signIn(page);
        await page.goto(screen.path());
        await hydrated(page);
        if (screen.nav) {
          await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: screen.nav, exact: true }).click();
          await expect(page.getByRole('link', { name: screen.nav, exact: true })).toHaveAttribute('aria-current', 'page');
        }
        await expect(page.locator('main')).not.toContainText('Loading');
        if (screen.open) await screen.open(page);

        expect.soft(await unnamed(page), 'unnamed fields and controls').toEqual([]);
        const { scrollWidth, innerWidth, outside } = await horizontalOverflow(page);
        expect
          .soft(scrollWidth, `the page scrolls sideways; sticking out: ${outside.join(' | ')}`)
          .toBeLessThanOrEqual(innerWidth + 1);
        expect.soft(await keyboardWalk(page), 'keyboard reachability and focus style').toEqual([]);
      });
    }
  });
}
