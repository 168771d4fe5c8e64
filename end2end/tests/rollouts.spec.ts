import { APIRequestContext, expect, test } from '@playwright/test';
import { kubeToken, kubeUrl } from '../playwright.config';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from './helpers';

// Safe rollouts in the browser: the rollback checkbox in the editor (with its
// YAML round trip) and a dry run's diff on the runtime view.

function deploymentYaml(name: string) {
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  replicas: 1',
    '  selector:',
    '    matchLabels:',
    `      app: ${name}`,
    '  template:',
    '    metadata:',
    '      labels:',
    `        app: ${name}`,
    '    spec:',
    '      containers:',
    '        - name: web',
    '          image: ${input.IMAGE}',
    '',
  ].join('\n');
}

async function finished(request: APIRequestContext, token: string, id: number) {
  let status = '';
  await expect
    .poll(
      async () => {
        const answer = await request.get(`/api/v1/executions/${id}`, { headers: { Authorization: `Bearer ${token}` } });
        status = (await answer.json()).status;
        return ['COMPLETED', 'FAILED', 'CANCELED'].includes(status);
      },
      { timeout: 30_000 },
    )
    .toBe(true);
  return status;
}

test('a dry run shows its diff, and the editor ticks the rollback checkbox', async ({ page }) => {
  test.setTimeout(90_000);
  await signIn(page);
  const token = await createToken(page, uniqueName('rollouts'));
  const project = uniqueName('Rollouts');
  const cluster = `cluster-${Date.now().toString(36)}`;
  const deployment = `web-${Date.now().toString(36)}`;
  await apiCreate(page.request, token, 'projects', { name: project });
  await apiCreate(page.request, token, 'endpoints', {
    project, name: cluster, kind: 'kubernetes', url: kubeUrl, token: kubeToken, namespace: 'default',
  });
  const pipeline = (name: string, extra: object) =>
    apiCreate(page.request, token, 'pipelines', {
      project, name, inputs: [{ name: 'IMAGE' }],
      stages: [{ name: 'deploy', tasks: [{
        name: 'web', type: 'kubernetes', endpoint: cluster, action: 'APPLY', yaml: deploymentYaml(deployment), ...extra,
      }] }],
    });
  const plain = await pipeline(uniqueName('Deploy'), {});
  const preview = await pipeline(uniqueName('Preview'), { dry_run: true });
  const first = await apiCreate(page.request, token, `pipelines/${plain.id}/executions`, { inputs: { IMAGE: 'nginx:1.26' } });
  expect(await finished(page.request, token, first.id)).toBe('COMPLETED');

  // The dry run of a new image: the runtime view shows the image old → new.
  const dry = await apiCreate(page.request, token, `pipelines/${preview.id}/executions`, { inputs: { IMAGE: 'nginx:1.27' } });
  await page.goto(`/executions/${dry.id}`);
  await hydrated(page);
  await expect(page.getByTestId('execution-status')).toContainText('COMPLETED', { timeout: 30_000 });
  await page.locator('button[data-task="web"]').click();
  await expect(page.getByTestId('diff-summary')).toHaveText(`Deployment/${deployment}: image nginx:1.26 → nginx:1.27`);
  const image = page.getByTestId('diff-image');
  await expect(image).toContainText('spec.template.spec.containers[web].image');
  await expect(image).toContainText('nginx:1.26');
  await expect(image).toContainText('→ nginx:1.27');
  await page.screenshot({ path: 'test-results/screenshots/dry-run-diff.png', fullPage: true });
  const stored = await (await page.request.get(
    `${kubeUrl}/_standin/objects?kind=Deployment&namespace=default&name=${deployment}`,
  )).json();
  expect(stored[0].spec.template.spec.containers[0].image).toBe('nginx:1.26');

  // The editor: the rollback checkbox appears with "Wait for rollout", survives the YAML round trip and saves.
  await page.goto(`/pipelines/${plain.id}`);
  await hydrated(page);
  await page.getByRole('tab', { name: 'Workspace' }).click();
  const rollback = page.getByLabel('Roll back if the rollout fails');
  await expect(rollback).toHaveCount(0);
  await page.getByLabel('Wait for rollout').check();
  await rollback.check();
  await page.getByRole('tab', { name: 'YAML' }).click();
  await expect(page.getByLabel('Pipeline YAML')).toHaveValue(/rollback_on_failure: true/);
  await page.getByRole('button', { name: 'Apply YAML' }).click();
  await expect(page.getByText('Applied: the editor now holds this definition')).toBeVisible();
  await page.getByRole('tab', { name: 'Workspace' }).click();
  await expect(page.getByLabel('Roll back if the rollout fails')).toBeChecked();
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('editor-state')).toHaveText('All changes saved');
  const saved = await (await page.request.get(`/api/v1/pipelines/${plain.id}`, {
    headers: { Authorization: `Bearer ${token}` },
  })).json();
  expect(JSON.stringify(saved)).toContain('"rollback_on_failure":true');
});
