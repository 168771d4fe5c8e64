import { APIRequestContext, expect, Page, test } from '@playwright/test';
import { hubPassword, hubUrl, hubUser, kubeToken, kubeUrl } from '../playwright.config';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from './helpers';

/** A lower-case suffix, for names Kubernetes and Docker Hub also have to accept. */
function suffix() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

/** Has the Docker Hub stand-in deliver a push to a hook URL; answers Slipway's reply. */
async function push(request: APIRequestContext, hookUrl: string, tag: string) {
  const answer = await request.post(`${hubUrl}/_standin/push`, { data: { hook_url: hookUrl, tag } });
  expect(answer.status(), await answer.text()).toBe(202);
  return answer.json();
}

test('a push through the Docker Hub stand-in runs the webhook pipeline, and a disabled webhook ignores it', async ({
  page,
  context,
}) => {
  test.setTimeout(120_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page);

  // Setup through the API: a project, a cluster endpoint, a pipeline that deploys the pushed tag.
  const tokenName = `hooks-${suffix()}`;
  const token = await createToken(page, tokenName);
  const project = uniqueName('Webhooks');
  await apiCreate(page.request, token, 'projects', { name: project, description: 'Docker trigger test' });
  const cluster = `cluster-${suffix()}`;
  await apiCreate(page.request, token, 'endpoints', {
    project,
    name: cluster,
    kind: 'kubernetes',
    url: kubeUrl,
    token: kubeToken,
    namespace: 'default',
  });
  const deployment = `testhook-${suffix()}`;
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
  const pipeline = uniqueName('Deploy testhook');
  await apiCreate(page.request, token, 'pipelines', {
    project,
    name: pipeline,
    inject_docker_parameters: true,
    inputs: [{ name: 'REPLICAS', default: '1', description: 'How many pods' }],
    stages: [
      {
        name: 'deploy',
        tasks: [{ name: 'web', type: 'kubernetes', endpoint: cluster, action: 'APPLY', yaml }],
      },
    ],
  });

  // The webhook form, with the registry endpoint made through its shortcut.
  await page.goto('/triggers/docker');
  await hydrated(page);
  await page.getByRole('button', { name: 'New webhook for Docker' }).click();
  await page.getByLabel('Project').selectOption({ label: project });
  const hook = `hook-${suffix()}`;
  await page.getByLabel('Name', { exact: true }).fill(hook);
  await page.getByLabel('Description').fill('Deploys every push of the test hook');
  await page.getByRole('button', { name: 'Create endpoint' }).click();
  const shortcut = page.getByTestId('endpoint-shortcut');
  const registry = `hub-${suffix()}`;
  await shortcut.getByLabel('Endpoint name').fill(registry);
  await shortcut.getByLabel('Server type').selectOption('docker-hub');
  await shortcut.getByLabel('Repository or registry URL').fill('https://index.docker.io/v1/');
  await shortcut.getByLabel('User name').fill(hubUser);
  await shortcut.getByLabel('Password').fill(hubPassword);
  await shortcut.getByRole('button', { name: 'Save endpoint' }).click();
  await expect(shortcut).toHaveCount(0);
  // Back in the webhook form: the new endpoint is chosen and what was typed is still there.
  const endpointSelect = page.getByLabel('Docker registry endpoint');
  await expect(endpointSelect.locator('option:checked')).toHaveText(registry);
  await expect(page.getByLabel('Name', { exact: true })).toHaveValue(hook);
  await expect(page.getByLabel('Description')).toHaveValue('Deploys every push of the test hook');

  await page.getByLabel('Pipeline').selectOption({ label: pipeline });
  const injected = page.getByTestId('injected-parameters');
  await expect(injected).toContainText('DOCKER_TAG');
  await expect(injected.getByLabel('DOCKER_IMAGE', { exact: true })).toHaveValue('from the Docker event');
  await expect(page.getByLabel('REPLICAS')).toHaveAttribute('placeholder', 'default: 1');
  const tokenSelect = page.getByLabel('API token');
  const tokenValue = await tokenSelect.locator('option', { hasText: tokenName }).getAttribute('value');
  await tokenSelect.selectOption(tokenValue!);
  await page.getByLabel('Build image').fill('svendowideit/testhook');
  await page.screenshot({ path: 'test-results/screenshots/webhook-form.png', fullPage: true });
  await page.getByRole('button', { name: 'Save', exact: true }).click();

  // The hook URL, shown once, and the card synced with Docker Hub.
  const box = page.getByTestId('hook-url-box');
  await expect(box).toContainText('Shown once: paste it into Docker Hub');
  const hookUrl = ((await box.getByTestId('hook-url').textContent()) ?? '').trim();
  expect(hookUrl).toMatch(/\/pipelines\/api\/docker-hub-webhooks\?secureToken=.+/);
  await box.getByRole('button', { name: 'Copy' }).click();
  await expect(box.getByTestId('copy-state')).toHaveText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(hookUrl);
  const card = page.locator(`article[data-webhook="${hook}"]`);
  await expect(card.locator('[data-hub-sync="synced"]')).toContainText('synced');
  await expect(card.getByTestId('image-pattern')).toHaveText('svendowideit/testhook:any');
  const toggle = card.getByRole('switch');
  await expect(toggle).toHaveAttribute('aria-checked', 'true');
  await expect(toggle).toHaveText('Enabled');

  // Docker Hub (the stand-in) holds the matching webhook pipeline.
  const hubPipelines = await (await page.request.get(`${hubUrl}/_standin/pipelines`)).json();
  const registered = Object.values(hubPipelines as Record<string, { name: string; webhooks: { hook_url: string }[] }[]>)
    .flat()
    .filter((entry) => entry.webhooks.some((each) => each.hook_url === hookUrl));
  expect(registered).toHaveLength(1);
  expect(registered[0].name).toBe(hook);

  // A push runs the pipeline.
  const first = await push(page.request, hookUrl, 'latest');
  expect(first.status).toBe('TRIGGERED');
  expect(first.execution_id).toBeTruthy();

  // Activity, reached from the card: TRIGGERED, linking to the run, which completes
  // (the page refreshes itself while the run is not final).
  await page.reload();
  await hydrated(page);
  await card.getByRole('link', { name: 'Activity' }).click();
  await expect(page).toHaveURL(/\/triggers\/docker\/activity\?webhook=\d+$/);
  await hydrated(page);
  const triggered = page.locator(`tr[data-event="${first.event_id}"]`);
  await expect(triggered).toHaveAttribute('data-status', 'TRIGGERED');
  await expect(triggered).toContainText('svendowideit/testhook:latest');
  await expect(triggered.locator('[data-execution-status]')).toHaveText(/COMPLETED/, { timeout: 30_000 });
  await expect(triggered.getByTestId('execution-link')).toHaveAttribute('href', `/executions/${first.execution_id}`);
  await page.screenshot({ path: 'test-results/screenshots/activity.png', fullPage: true });

  // The cluster (stand-in) runs the pushed image.
  await expect
    .poll(async () => {
      const answer = await page.request.get(
        `${kubeUrl}/_standin/objects?kind=Deployment&namespace=default&name=${deployment}`,
      );
      const stored = await answer.json();
      return stored[0]?.spec?.template?.spec?.containers?.[0]?.image;
    })
    .toBe('svendowideit/testhook:latest');

  // The card shows the last event; the switch disables the webhook at once.
  await page.goto('/triggers/docker');
  await hydrated(page);
  await expect(card.getByTestId('last-event')).toContainText('TRIGGERED');
  await expect(card.getByTestId('last-event')).toContainText('COMPLETED');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-checked', 'false');
  await expect(toggle).toHaveText('Disabled');
  await page.screenshot({ path: 'test-results/screenshots/webhook-card.png', fullPage: true });
  await expect
    .poll(async () => {
      const answer = await page.request.get('/api/v1/webhooks/docker', {
        headers: { Authorization: `Bearer ${token}` },
      });
      const hooks = (await answer.json()) as { name: string; enabled: boolean }[];
      return hooks.find((each) => each.name === hook)?.enabled;
    })
    .toBe(false);

  // A push to the disabled webhook is recorded and ignored.
  const second = await push(page.request, hookUrl, 'v2');
  expect(second.status).toBe('IGNORED');
  expect(second.execution_id).toBeNull();
  await card.getByRole('link', { name: 'Activity' }).click();
  await hydrated(page);
  const ignored = page.locator(`tr[data-event="${second.event_id}"]`);
  await expect(ignored).toHaveAttribute('data-status', 'IGNORED');
  await expect(ignored.getByTestId('reason')).toHaveText('disabled');
  await expect(ignored).toContainText('svendowideit/testhook:v2');
  // Newest first.
  await expect(page.locator('tr[data-event]').first()).toHaveAttribute('data-event', String(second.event_id));

  // The status filter is kept in the address.
  await page.getByLabel('Status').selectOption('TRIGGERED');
  await expect(page).toHaveURL(/status=TRIGGERED/);
  await expect(page.locator(`tr[data-event="${second.event_id}"]`)).toHaveCount(0);
  await expect(triggered).toBeVisible();
});

test('the form shows errors beside the fields and saves nothing', async ({ page }) => {
  await signIn(page);
  await page.goto('/triggers/docker');
  await hydrated(page);
  await page.getByRole('button', { name: 'New webhook for Docker' }).click();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.locator('[data-field-error]').first()).toBeVisible();
  await expect(page.getByTestId('hook-url-box')).toHaveCount(0);
});

test('"Try a tag" tries the patterns as typed, before saving, and says why', async ({ page }) => {
  await signIn(page);
  await page.goto('/triggers/docker');
  await hydrated(page);
  await page.getByRole('button', { name: 'New webhook for Docker' }).click();
  await page.getByLabel('Build image').fill('acme/*');
  await page.locator('#webhook-tag').fill('semver:^1.4');
  const tester = page.getByRole('group', { name: 'Try a tag' });
  await tester.getByLabel('Repository to try').fill('acme/shop-api');
  await tester.getByLabel('Tag to try').fill('v1.5.0');
  await tester.getByRole('button', { name: 'Try' }).click();
  const verdict = page.getByTestId('tag-trial');
  await expect(verdict).toContainText("Matches: a push of acme/shop-api:v1.5.0 starts a run");
  await expect(verdict).toContainText("tag 'v1.5.0' is in the range 'semver:^1.4'");

  await tester.getByLabel('Tag to try').fill('2.0.0');
  await tester.getByRole('button', { name: 'Try' }).click();
  await expect(verdict).toHaveText("Does not match: tag '2.0.0' is not in the range 'semver:^1.4'");

  // An empty candidate is refused beside its field; nothing was saved.
  await tester.getByLabel('Tag to try').fill('');
  await tester.getByRole('button', { name: 'Try' }).click();
  await expect(page.locator('[data-field-error="candidate_tag"]')).toBeVisible();
  await expect(page.getByTestId('hook-url-box')).toHaveCount(0);
});

test('a new hook URL says, per registry, what to paste where', async ({ page }) => {
  await signIn(page);
  const token = await createToken(page, `setup-${suffix()}`);
  const project = uniqueName('Setup');
  await apiCreate(page.request, token, 'projects', { name: project });
  const registry = `registry-${suffix()}`;
  await apiCreate(page.request, token, 'endpoints', {
    project,
    name: registry,
    kind: 'docker-registry',
    server_type: 'registry',
    url: 'http://127.0.0.1:5000',
  });
  const pipeline = uniqueName('Check');
  await apiCreate(page.request, token, 'pipelines', {
    project,
    name: pipeline,
    stages: [{ name: 'check', tasks: [{ name: 'pass', type: 'condition', expression: 'true' }] }],
  });
  const hook = `setup-${suffix()}`;
  await apiCreate(page.request, token, 'webhooks/docker', {
    project, name: hook, endpoint: registry, pipeline, api_token: token, image: 'demo/app', tag: '',
  });

  await page.goto('/triggers/docker');
  await hydrated(page);
  const card = page.locator(`article[data-webhook="${hook}"]`);
  await card.getByRole('button', { name: 'Regenerate URL' }).click();
  await card.getByRole('button', { name: 'Regenerate', exact: true }).click();
  const box = page.getByTestId('hook-url-box');
  const hookUrl = (await box.getByTestId('hook-url').textContent())!.trim();
  const [receiverUrl, secret] = hookUrl.split('?secureToken=');

  // Harbor first: the receiver's URL, and the token as its Auth Header.
  const steps = box.getByTestId('setup-steps');
  await expect(box.getByTestId('setup-place')).toContainText('Artifact pushed');
  await expect(steps).toContainText(`Endpoint URL${receiverUrl}`);
  await expect(steps).toContainText(`Auth Header${secret}`);
  // GitHub: the whole hook URL, and the token as the signing secret.
  await box.getByLabel('Your registry').selectOption('ghcr');
  await expect(steps).toContainText(`Payload URL${hookUrl}`);
  await expect(steps).toContainText(`Secret${secret}`);
  // ECR through EventBridge: an API key named Authorization.
  await box.getByLabel('Your registry').selectOption('ecr');
  await expect(steps).toContainText('API key nameAuthorization');
  await expect(steps).toContainText(`API key value${secret}`);
});

test('the delivery limit is set in the webhook form, shown on the card, and enforced with a counted Activity row', async ({
  page,
}) => {
  test.setTimeout(60_000);
  await signIn(page);
  const token = await createToken(page, `limits-${suffix()}`);
  const project = uniqueName('Limits');
  await apiCreate(page.request, token, 'projects', { name: project });
  const registry = `registry-${suffix()}`;
  await apiCreate(page.request, token, 'endpoints', {
    project,
    name: registry,
    kind: 'docker-registry',
    server_type: 'registry',
    url: 'http://127.0.0.1:5000',
  });
  const pipeline = uniqueName('Check');
  await apiCreate(page.request, token, 'pipelines', {
    project,
    name: pipeline,
    stages: [{ name: 'check', tasks: [{ name: 'pass', type: 'condition', expression: 'true' }] }],
  });
  const hook = `limited-${suffix()}`;
  const created = await apiCreate(page.request, token, 'webhooks/docker', {
    project,
    name: hook,
    endpoint: registry,
    pipeline,
    api_token: token,
    image: 'demo/app',
    tag: 'never-*',
  });

  // The card shows the default; Edit opens the form with it.
  await page.goto('/triggers/docker');
  await hydrated(page);
  const card = page.locator(`article[data-webhook="${hook}"]`);
  await expect(card.getByTestId('delivery-limit')).toHaveText('6000 deliveries a minute');
  await card.getByRole('button', { name: 'Edit' }).click();
  const limit = page.getByLabel('Deliveries a minute');
  await expect(limit).toHaveValue('6000');

  // Outside the range: the error beside the field, nothing saved.
  await limit.fill('0');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.locator('[data-field-error="max_deliveries_per_minute"]')).toContainText(
    'must be between 1 and 100000 deliveries a minute',
  );

  // One a minute: saved, and shown on the card.
  await limit.fill('1');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(card.getByTestId('delivery-limit')).toHaveText('1 delivery a minute');
  await page.reload();
  await hydrated(page);
  await expect(card.getByTestId('delivery-limit')).toHaveText('1 delivery a minute');

  // The second delivery within the minute is answered 429 and counted in one row.
  const deliver = () =>
    page.request.post(created.hook_url, {
      headers: { 'Content-Type': 'application/vnd.docker.distribution.events.v1+json' },
      data: { events: [] },
    });
  expect((await deliver()).status()).toBe(202);
  const refused = await deliver();
  expect(refused.status()).toBe(429);
  expect(Number(refused.headers()['retry-after'])).toBeGreaterThan(0);
  await card.getByRole('link', { name: 'Activity' }).click();
  await hydrated(page);
  const rows = page.locator('tr[data-event]');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-status', 'REJECTED');
  await expect(rows.first().getByTestId('reason')).toContainText(
    "over the webhook's limit of 1 delivery a minute: 1 delivery refused (429)",
  );
});
