import { expect, Page, test } from '@playwright/test';
import { kubeToken, kubeUrl } from '../playwright.config';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from './helpers';

// A panic in the wasm (or any uncaught error) fails the test that caused it;
// the console's errors (a panic's message and place) come with the failure.
let pageErrors: string[] = [];
let consoleErrors: string[] = [];
test.beforeEach(async ({ page }) => {
  pageErrors = [];
  consoleErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
});
test.afterEach(() => {
  expect(pageErrors, consoleErrors.join('\n')).toEqual([]);
});

/** A lower-case suffix, for names Kubernetes also has to accept. */
function suffix() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

async function createProject(page: Page, name: string) {
  await page.goto('/projects');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.locator(`tr[data-project="${name}"]`)).toBeVisible();
}

async function createKubernetesEndpoint(page: Page, project: string, name: string) {
  await page.goto('/endpoints');
  await hydrated(page);
  await page.getByRole('button', { name: 'New endpoint' }).click();
  await page.getByLabel('Project').selectOption({ label: project });
  await page.getByLabel('Kubernetes').check();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('API server URL').fill(kubeUrl);
  await page.getByLabel('Default namespace').fill('default');
  await page.getByLabel('Bearer token').fill(kubeToken);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator(`tr[data-endpoint="${name}"]`)).toBeVisible();
}

/** Opens the editor for a new pipeline and fills the General tab. */
async function newPipeline(page: Page, project: string, name: string) {
  await page.goto('/pipelines');
  await hydrated(page);
  await page.getByRole('link', { name: 'New pipeline' }).click();
  await expect(page).toHaveURL(/\/pipelines\/new$/);
  await hydrated(page);
  await expect(page.getByRole('tab', { name: 'General' })).toHaveAttribute('aria-selected', 'true');
  await page.getByLabel('Project').selectOption({ label: project });
  await page.getByLabel('Name', { exact: true }).fill(name);
}

/** Saves a new pipeline: the editor moves to the pipeline's own address. */
async function save(page: Page) {
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/pipelines\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId('editor-state')).toHaveText('All changes saved');
}

test('a pipeline with injected Docker parameters deploys the given tag to the cluster', async ({ page }) => {
  test.setTimeout(90_000);
  await signIn(page);
  const project = uniqueName('Pipelines');
  await createProject(page, project);
  const cluster = `cluster-${suffix()}`;
  await createKubernetesEndpoint(page, project, cluster);

  const name = uniqueName('Deploy web');
  await newPipeline(page, project, name);

  // Input: one declared parameter and the injected Docker ones.
  await page.getByRole('tab', { name: 'Input' }).click();
  await expect(page.getByRole('tab', { name: 'Input' })).toHaveAttribute('aria-selected', 'true');
  await page.getByRole('button', { name: 'Add input' }).click();
  await page.getByLabel('Input 1 name').fill('REPLICAS');
  await page.getByLabel('Input 1 default').fill('1');
  const inject = page.getByRole('switch', { name: 'Inject Docker parameters' });
  await inject.click();
  await expect(inject).toHaveAttribute('aria-checked', 'true');
  const injected = page.getByTestId('injected-parameters');
  await expect(injected).toContainText('DOCKER_TAG');
  await expect(injected).toContainText('from the Docker event');
  await page.screenshot({ path: 'test-results/screenshots/pipeline-input.png', fullPage: true });

  // Workspace: a stage with a Kubernetes task creating a Deployment.
  const deployment = `web-${suffix()}`;
  const yaml = [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${deployment}`,
    'spec:',
    '  replicas: ${input.REPLICAS}',
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
    '          image: nginx:${input.DOCKER_TAG}',
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
  // Typing went into the definition without re-creating the field.
  await expect(page.getByLabel('Task name')).toHaveValue('web');
  await expect(page.getByLabel('Stage name')).toHaveValue('deploy');
  await page.screenshot({ path: 'test-results/screenshots/pipeline-workspace.png', fullPage: true });

  // YAML: the definition as text, and back (round trip).
  await page.getByRole('tab', { name: 'YAML' }).click();
  const text = page.getByLabel('Pipeline YAML');
  await expect(text).toHaveValue(/inject_docker_parameters: true/);
  await expect(text).toHaveValue(/image: nginx:\$\{input\.DOCKER_TAG\}/);
  await page.getByRole('button', { name: 'Apply YAML' }).click();
  await expect(page.getByText('Applied: the editor now holds this definition')).toBeVisible();
  await page.getByRole('tab', { name: 'Workspace' }).click();
  await expect(page.getByLabel('Task name')).toHaveValue('web');
  await expect(page.getByLabel('Action')).toHaveValue('CREATE');

  await save(page);

  // Run with a tag, as a Docker push would give it.
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: `Run ${name}` });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('REPLICAS')).toHaveValue('1');
  await expect(dialog.getByLabel('DOCKER_TAG')).toHaveValue('');
  await dialog.getByLabel('DOCKER_TAG').fill('1.27');
  await page.screenshot({ path: 'test-results/screenshots/run-dialog.png' });
  await dialog.getByRole('button', { name: 'Start run' }).click();

  await expect(page).toHaveURL(/\/executions\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId('execution-status')).toContainText('COMPLETED', { timeout: 30_000 });
  await expect(page.getByTestId('execution-inputs')).toContainText('1.27');
  await page.locator('button[data-task="web"]').click();
  const objects = page.getByTestId('kubernetes-objects');
  await expect(objects).toContainText('Deployment');
  await expect(objects).toContainText(deployment);
  await expect(objects).toContainText('nginx:1.27');
  await expect(page.getByTestId('task-inputs')).toContainText('image: nginx:1.27');
  await page.screenshot({ path: 'test-results/screenshots/execution.png', fullPage: true });

  // The cluster really holds it.
  const answer = await page.request.get(
    `${kubeUrl}/_standin/objects?kind=Deployment&namespace=default&name=${deployment}`,
  );
  expect(answer.ok()).toBeTruthy();
  const stored = await answer.json();
  expect(stored).toHaveLength(1);
  expect(stored[0].spec.template.spec.containers[0].image).toBe('nginx:1.27');

  // The run is listed, final, with its trigger.
  await page.goto('/executions');
  await hydrated(page);
  const row = page.locator('tr', { hasText: name });
  await expect(row).toContainText('COMPLETED');
  await expect(row).toContainText('manual by');
  await page.screenshot({ path: 'test-results/screenshots/executions.png', fullPage: true });
  await page.goto('/pipelines');
  await hydrated(page);
  await expect(page.locator(`tr[data-pipeline="${name}"]`)).toContainText('injects Docker parameters');
  await page.screenshot({ path: 'test-results/screenshots/pipelines.png', fullPage: true });
});

test('a false condition fails the run and says why', async ({ page }) => {
  test.setTimeout(60_000);
  await signIn(page);
  const project = uniqueName('Conditions');
  await createProject(page, project);
  const name = uniqueName('Gate');
  await newPipeline(page, project, name);

  await page.getByRole('tab', { name: 'Input' }).click();
  await page.getByRole('button', { name: 'Add input' }).click();
  await page.getByLabel('Input 1 name').fill('X');

  await page.getByRole('tab', { name: 'Workspace' }).click();
  await page.getByRole('button', { name: 'Add stage' }).click();
  await page.getByLabel('Stage name').fill('check');
  await page.getByLabel('New task type').selectOption('condition');
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.getByLabel('Task name').fill('gate');
  await page.getByLabel('Expression').fill("'${input.X}' == 'yes'");
  await save(page);

  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('X', { exact: true }).fill('no');
  await dialog.getByRole('button', { name: 'Start run' }).click();

  await expect(page).toHaveURL(/\/executions\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId('execution-status')).toContainText('FAILED', { timeout: 30_000 });
  // The failed task is shown without a click, with the condition's message.
  await expect(page.getByTestId('task-error')).toContainText("condition `'${input.X}' == 'yes'` is false");
});

test('a save error shows beside the field and in a banner', async ({ page }) => {
  await signIn(page);
  const project = uniqueName('Invalid');
  await createProject(page, project);
  await newPipeline(page, project, uniqueName('Broken'));
  await page.getByRole('tab', { name: 'Workspace' }).click();
  await page.getByRole('button', { name: 'Add stage' }).click();
  await page.getByLabel('New task type').selectOption('rest');
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('save-error')).toContainText('stages[0].tasks[0].url');
  await expect(page.locator('[data-field-error="stages[0].tasks[0].url"]')).toBeVisible();
  await expect(page).toHaveURL(/\/pipelines\/new$/);
});

test('a pipeline with runs is deleted only when its runs are deleted on purpose', async ({ page, request }) => {
  await signIn(page);
  const token = await createToken(page, uniqueName('delete-runs'));
  const project = uniqueName('Deletes');
  await apiCreate(request, token, 'projects', { name: project });
  const name = `ran-${suffix()}`;
  const pipeline = await apiCreate(request, token, 'pipelines', {
    project,
    name,
    stages: [{ name: 'check', tasks: [{ name: 'ok', type: 'condition', expression: 'true' }] }],
  });
  const run = await apiCreate(request, token, `pipelines/${pipeline.id}/executions`, { inputs: {} });
  await expect
    .poll(async () => {
      const answer = await request.get(`/api/v1/executions/${run.id}`, { headers: { Authorization: `Bearer ${token}` } });
      return (await answer.json()).status;
    })
    .toBe('COMPLETED');

  await page.goto('/pipelines');
  await hydrated(page);
  const row = page.locator(`tr[data-pipeline="${name}"]`);
  await row.getByRole('button', { name: 'Delete' }).click();
  await row.getByRole('button', { name: 'Confirm delete' }).click();
  await expect(page.getByRole('alert')).toContainText('deleting it deletes their history too');
  await expect(row).toBeVisible();

  await row.getByRole('button', { name: 'Delete' }).click();
  await row.getByLabel('also delete its runs').check();
  await row.getByRole('button', { name: 'Confirm delete' }).click();
  await expect(row).toHaveCount(0);
  const gone = await request.get(`/api/v1/executions/${run.id}`, { headers: { Authorization: `Bearer ${token}` } });
  expect(gone.status()).toBe(404);
});

test('a running run shows the replica running it, and Cancel stops it', async ({ page, request, baseURL }) => {
  await signIn(page);
  const token = await createToken(page, `replica-${Date.now()}`);
  const project = uniqueName('Replica');
  await apiCreate(request, token, 'projects', { name: project });
  // A Poll task whose condition never holds, asking once a minute: the run
  // stays RUNNING until canceled.
  const pipeline = await apiCreate(request, token, 'pipelines', {
    project,
    name: `waits-${suffix()}`,
    stages: [
      {
        name: 'wait',
        tasks: [
          {
            name: 'forever',
            type: 'poll',
            url: `${baseURL}/healthz`,
            condition: "$.status == 'never'",
            interval_seconds: 60,
            timeout_seconds: 600,
          },
        ],
      },
    ],
  });
  const run = await apiCreate(request, token, `pipelines/${pipeline.id}/executions`, { inputs: {} });

  await page.goto(`/executions/${run.id}`);
  await hydrated(page);
  await expect(page.getByTestId('execution-status')).toContainText('RUNNING', { timeout: 30_000 });
  await expect(page.getByTestId('execution-replica')).toHaveText(/^on replica \S+$/);

  await page.getByRole('button', { name: 'Cancel run' }).click();
  await expect(page.getByTestId('execution-status')).toContainText('CANCELED', { timeout: 30_000 });
  await expect(page.getByTestId('execution-replica')).toHaveCount(0);
});
