import { expect, Page, test } from '@playwright/test';
import { hubPassword, hubUrl, hubUser, kubeToken, kubeUrl } from '../playwright.config';
import { expectSameDocument, hydrated, markDocument, signIn, uniqueName } from './helpers';

// The manual's whole flow, as one person would click it: endpoints, a pipeline with the
// Docker parameters injected and a Kubernetes task, a Docker webhook, a push from the
// Docker Hub stand-in, and the run followed live (the pages are never reloaded while
// waiting) down to the Deployment in the cluster stand-in. Only the stand-ins are
// driven or read over HTTP; everything in Slipway goes through the browser.

const shots = 'test-results/screenshots';
const live = { timeout: 15_000 };

/** A lower-case suffix, for names Kubernetes and Docker Hub also have to accept. */
function suffix() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

/** Follows a link of the main navigation: a client-side move, not a page load. */
async function navigate(page: Page, label: string, path: RegExp) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await expect(page).toHaveURL(path);
}

/** Has the Docker Hub stand-in deliver a push of `svendowideit/testhook:<tag>` to a hook URL. */
async function push(page: Page, hookUrl: string, tag: string) {
  const answer = await page.request.post(`${hubUrl}/_standin/push`, { data: { hook_url: hookUrl, tag } });
  expect(answer.status(), await answer.text()).toBe(202);
  // The digest the stand-in's registry stored for the pushed tag.
  const digest = answer.headers()['docker-content-digest'];
  const body = (await answer.json()) as { event_id: number; status: string; execution_id: number | null };
  return { ...body, digest };
}

let pageErrors: string[] = [];
test.beforeEach(async ({ page }) => {
  pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
});
test.afterEach(() => {
  expect(pageErrors).toEqual([]);
});

test('seed flow: a Docker Hub push deploys the pushed image, followed live; a disabled webhook ignores the next push', async ({
  page,
}) => {
  test.setTimeout(60_000);
  const id = suffix();
  await signIn(page);

  // A project of its own.
  const project = uniqueName('Seed');
  await page.goto('/projects');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(project);
  await page.getByLabel('Description').fill('The Docker trigger flow of the manual');
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.locator(`tr[data-project="${project}"]`)).toBeVisible();

  // An API token: the webhook's runs are attributed to its user.
  const tokenName = `seed-${id}`;
  await page.goto('/settings/tokens');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(tokenName);
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByTestId('new-token')).not.toBeEmpty();

  // 1. The Docker registry endpoint (Docker Hub, the stand-in's account), validated.
  const registry = `hub-${id}`;
  await navigate(page, 'Endpoints', /\/endpoints$/);
  await hydrated(page);
  await page.getByRole('button', { name: 'New endpoint' }).click();
  await page.getByLabel('Project').selectOption({ label: project });
  await page.getByLabel('Name', { exact: true }).fill(registry);
  await page.getByLabel('Server type').selectOption('docker-hub');
  await page.getByLabel('Repository or registry URL').fill('https://index.docker.io/v1/');
  await page.getByLabel('User name').fill(hubUser);
  await page.getByLabel('Password').fill(hubPassword);
  await page.getByRole('region', { name: 'New endpoint' }).getByRole('button', { name: 'Validate' }).click();
  await expect(page.getByTestId('draft-validation')).toContainText('valid');
  await page.getByRole('button', { name: 'Save' }).click();
  const registryRow = page.locator(`tr[data-endpoint="${registry}"]`);
  await expect(registryRow).toBeVisible();

  // The Kubernetes endpoint: the cluster stand-in and its token, validated.
  const cluster = `cluster-${id}`;
  await page.getByRole('button', { name: 'New endpoint' }).click();
  await page.getByLabel('Project').selectOption({ label: project });
  await page.getByLabel('Kubernetes').check();
  await page.getByLabel('Name', { exact: true }).fill(cluster);
  await page.getByLabel('API server URL').fill(kubeUrl);
  await page.getByLabel('Default namespace').fill('default');
  await page.getByLabel('Bearer token').fill(kubeToken);
  await page.getByRole('button', { name: 'Save' }).click();
  const clusterRow = page.locator(`tr[data-endpoint="${cluster}"]`);
  await expect(clusterRow).toBeVisible();
  await registryRow.getByRole('button', { name: 'Validate' }).click();
  await expect(registryRow.locator('[data-validation]')).toHaveText('✓ valid');
  await clusterRow.getByRole('button', { name: 'Validate' }).click();
  await expect(clusterRow.locator('[data-validation]')).toHaveText('✓ valid');
  await expect(page.locator('body')).not.toContainText(hubPassword);
  await page.screenshot({ path: `${shots}/seed-endpoints.png`, fullPage: true });

  // 2. The pipeline: Docker parameters injected, a Kubernetes CREATE of a Deployment
  // running the pushed image.
  const pipeline = uniqueName('Deploy testhook');
  await navigate(page, 'Pipelines', /\/pipelines$/);
  await hydrated(page);
  await page.getByRole('link', { name: 'New pipeline' }).click();
  await expect(page).toHaveURL(/\/pipelines\/new$/);
  await hydrated(page);
  await page.getByLabel('Project').selectOption({ label: project });
  await page.getByLabel('Name', { exact: true }).fill(pipeline);
  await page.getByRole('tab', { name: 'Input' }).click();
  const inject = page.getByRole('switch', { name: 'Inject Docker parameters' });
  await inject.click();
  await expect(inject).toHaveAttribute('aria-checked', 'true');
  const injected = page.getByTestId('injected-parameters');
  for (const name of ['DOCKER_OWNER_NAME', 'DOCKER_IMAGE', 'DOCKER_REPO_NAME', 'DOCKER_REPO_NAMESPACE', 'DOCKER_TAG']) {
    await expect(injected).toContainText(name);
  }
  await page.screenshot({ path: `${shots}/seed-pipeline-input.png`, fullPage: true });

  const deployment = `testhook-${id}`;
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
    '          image: ${input.DOCKER_IMAGE_REF}',
    '',
  ].join('\n');
  await page.getByRole('tab', { name: 'Workspace' }).click();
  await page.getByRole('button', { name: 'Add stage' }).click();
  await page.getByLabel('Stage name').fill('deploy');
  await page.getByLabel('New task type').selectOption('kubernetes');
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.getByLabel('Task name').fill('web');
  await page.getByLabel('Endpoint').selectOption(cluster);
  await page.getByLabel('Action').selectOption('CREATE');
  await page.getByLabel('YAML', { exact: true }).fill(yaml);
  await page.screenshot({ path: `${shots}/seed-pipeline-workspace.png`, fullPage: true });
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/pipelines\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId('editor-state')).toHaveText('All changes saved');

  // 3. The Docker webhook: registry endpoint, pipeline, token, image and tag patterns.
  const hook = `seed_${id}`;
  const tagPattern = `seed-${id}-*`;
  await navigate(page, 'Docker', /\/triggers\/docker$/);
  await hydrated(page);
  await page.getByRole('button', { name: 'New webhook for Docker' }).click();
  await page.getByLabel('Project').selectOption({ label: project });
  await page.getByLabel('Name', { exact: true }).fill(hook);
  await page.getByLabel('Description').fill('Deploys every seed push of the test hook');
  await page.getByLabel('Docker registry endpoint').selectOption({ label: registry });
  await page.getByLabel('Pipeline').selectOption({ label: pipeline });
  await expect(page.getByTestId('injected-parameters')).toContainText('DOCKER_TAG');
  await expect(page.getByTestId('injected-parameters').getByLabel('DOCKER_IMAGE', { exact: true })).toHaveValue('from the Docker event');
  const tokenSelect = page.getByLabel('API token');
  const tokenValue = await tokenSelect.locator('option', { hasText: tokenName }).getAttribute('value');
  await tokenSelect.selectOption(tokenValue!);
  await page.getByLabel('Build image').fill('svendowideit/testhook');
  await page.getByLabel('Tag', { exact: true }).fill(tagPattern);
  await page.screenshot({ path: `${shots}/seed-webhook-form.png`, fullPage: true });
  await page.getByRole('button', { name: 'Save', exact: true }).click();

  // The hook URL (shown once) and the card, synced with Docker Hub, enabled.
  const box = page.getByTestId('hook-url-box');
  await expect(box).toBeVisible();
  const hookUrl = ((await box.getByTestId('hook-url').textContent()) ?? '').trim();
  expect(hookUrl).toMatch(/\/pipelines\/api\/docker-hub-webhooks\?secureToken=.+/);
  const card = page.locator(`article[data-webhook="${hook}"]`);
  await expect(card.locator('[data-hub-sync="synced"]')).toBeVisible();
  await expect(card.getByTestId('image-pattern')).toHaveText(`svendowideit/testhook:${tagPattern}`);
  const toggle = card.getByRole('switch');
  await expect(toggle).toHaveAttribute('aria-checked', 'true');
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/seed-webhook-card.png`, fullPage: true });

  // 4. Docker Hub pushes; the Activity page, open before the push, shows the event
  // without being loaded again.
  await navigate(page, 'Docker activity', /\/triggers\/docker\/activity$/);
  await hydrated(page);
  await markDocument(page);
  // The page follows the server's live stream: the push below reaches it as an event.
  await expect(page.locator('[data-live="open"]')).toBeAttached();
  const tag = `seed-${id}-1`;
  const first = await push(page, hookUrl, tag);
  expect(first.status).toBe('TRIGGERED');
  expect(first.execution_id).toBeTruthy();
  const triggered = page.locator(`tr[data-event="${first.event_id}"]`);
  await expect(triggered, 'the open Activity page shows the push by itself (live)').toBeVisible(live);
  await expect(triggered).toHaveAttribute('data-status', 'TRIGGERED');
  await expect(triggered).toContainText(`svendowideit/testhook:${tag}`);
  // The digest Docker Hub's payload did not name, resolved at the registry: short, whole on hover.
  const pinned = `docker.io/svendowideit/testhook@${first.digest}`;
  await expect(triggered.getByTestId('digest')).toHaveAttribute('data-digest', first.digest);
  await expect(triggered.getByTestId('digest').locator('code')).toHaveText(first.digest.slice(0, 19));
  await expect(triggered).toContainText(hook);
  await expect(triggered.getByTestId('source')).toHaveText('Docker Hub');
  await expect(triggered.getByTestId('execution-link')).toHaveAttribute('href', `/executions/${first.execution_id}`);
  await expectSameDocument(page);
  await page.screenshot({ path: `${shots}/seed-activity.png`, fullPage: true });

  // 5. Executions: the run is listed and reaches COMPLETED on the open page.
  await navigate(page, 'Executions', /\/executions$/);
  await hydrated(page);
  await expectSameDocument(page);
  const runRow = page.locator(`tr[data-execution="${first.execution_id}"]`);
  await expect(runRow).toBeVisible(live);
  await expect(runRow).toContainText(pipeline);
  await expect(runRow).toContainText(`docker svendowideit/testhook:${tag}`);
  await expect(runRow.locator('[data-status]'), 'the open Executions page follows the run').toHaveAttribute(
    'data-status',
    'COMPLETED',
    live,
  );
  await expectSameDocument(page);
  await page.screenshot({ path: `${shots}/seed-executions.png`, fullPage: true });

  // 6. The run's runtime view: COMPLETED, the Kubernetes task and the objects it made.
  await runRow.getByRole('link', { name: /^Run #\d+ of / }).click();
  await expect(page).toHaveURL(new RegExp(`/executions/${first.execution_id}$`));
  await hydrated(page);
  await expectSameDocument(page);
  await expect(page.getByTestId('execution-status').locator('[data-status]')).toHaveAttribute(
    'data-status',
    'COMPLETED',
    live,
  );
  await expect(page.getByTestId('execution-trigger')).toContainText(`svendowideit/testhook:${tag}`);
  await expect(page.getByTestId('execution-inputs')).toContainText(tag);
  await expect(page.getByTestId('execution-inputs')).toContainText(pinned);
  await expect(page.getByTestId('execution-trigger').getByTestId('digest')).toHaveAttribute('data-digest', first.digest);
  const task = page.locator('[data-stage="deploy"] button[data-task="web"]');
  await expect(task.locator('[data-status]')).toHaveAttribute('data-status', 'COMPLETED');
  await expect(task).toContainText('kubernetes');
  await task.click();
  const objects = page.getByTestId('kubernetes-objects');
  const objectRow = objects.locator('tbody tr', { hasText: deployment });
  await expect(objectRow).toContainText('Deployment');
  await expect(objectRow).toContainText('default');
  await expect(objectRow).toContainText(pinned);
  await page.screenshot({ path: `${shots}/seed-execution.png`, fullPage: true });

  // 7. The cluster stand-in holds the Deployment with the pushed tag.
  const stored = (await (
    await page.request.get(`${kubeUrl}/_standin/objects?kind=Deployment&namespace=default&name=${deployment}`)
  ).json()) as { spec: { template: { spec: { containers: { image: string }[] } } } }[];
  expect(stored).toHaveLength(1);
  expect(stored[0].spec.template.spec.containers[0].image).toBe(pinned);

  // 7b. Deploy again from Activity: a confirmation names the image and digest, and a new
  // run deploys that same digest (rolling back to a known-good version is one click).
  await navigate(page, 'Docker activity', /\/triggers\/docker\/activity$/);
  await hydrated(page);
  const completedRow = page.locator(`tr[data-event="${first.event_id}"]`);
  await completedRow.getByRole('button', { name: 'Deploy again' }).click();
  const confirm = completedRow.getByTestId('deploy-again-confirm');
  await expect(confirm).toContainText(`Deploy svendowideit/testhook@${first.digest} again?`);
  await confirm.getByRole('button', { name: 'Deploy', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Re-run started' })).toBeVisible(live);

  // 8. The card's switch disables the webhook; the next push is received and ignored.
  await navigate(page, 'Docker', /\/triggers\/docker$/);
  await hydrated(page);
  await expect(toggle).toHaveAttribute('aria-checked', 'true');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-checked', 'false');
  await expect(toggle).toHaveText('Disabled');

  await navigate(page, 'Docker activity', /\/triggers\/docker\/activity$/);
  await hydrated(page);
  const second = await push(page, hookUrl, `seed-${id}-2`);
  expect(second.status).toBe('IGNORED');
  expect(second.execution_id).toBeNull();
  const ignored = page.locator(`tr[data-event="${second.event_id}"]`);
  await expect(ignored, 'the open Activity page shows the ignored push by itself (live)').toBeVisible(live);
  await expect(ignored).toHaveAttribute('data-status', 'IGNORED');
  await expect(ignored.getByTestId('reason')).toHaveText('disabled');
  await expect(ignored.getByTestId('execution-link')).toHaveCount(0);
  await expectSameDocument(page);
  await page.screenshot({ path: `${shots}/seed-activity-ignored.png`, fullPage: true });

  // Nothing new ran: the Deployment still runs the first push.
  const after = (await (
    await page.request.get(`${kubeUrl}/_standin/objects?kind=Deployment&namespace=default&name=${deployment}`)
  ).json()) as { spec: { template: { spec: { containers: { image: string }[] } } } }[];
  expect(after[0].spec.template.spec.containers[0].image).toBe(pinned);

  // The Executions filters live in the address: the Docker-triggered list survives a reload.
  await navigate(page, 'Executions', /\/executions$/);
  await hydrated(page);
  await page.getByLabel('Trigger').selectOption('docker');
  await expect(page).toHaveURL(/\/executions\?trigger=docker$/);
  await expect(page.locator(`tr[data-execution="${first.execution_id}"]`)).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel('Trigger')).toHaveValue('docker');
  await expect(page.locator(`tr[data-execution="${first.execution_id}"]`)).toBeVisible();
  await page.getByLabel('Trigger').selectOption('manual');
  await expect(page.locator(`tr[data-execution="${first.execution_id}"]`)).toHaveCount(0);
});
