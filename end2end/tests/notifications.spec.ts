import { expect, test } from '@playwright/test';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from './helpers';

// A panic in the wasm (or any uncaught error) fails the test that caused it.
let pageErrors: string[] = [];
test.beforeEach(async ({ page }) => {
  pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
});
test.afterEach(() => {
  expect(pageErrors).toEqual([]);
});

test('a webhook notification added in the General tab is kept, and the run page shows how it went', async ({
  page,
  request,
  baseURL,
}) => {
  test.setTimeout(60_000);
  await signIn(page);
  const token = await createToken(page, uniqueName('notify'));
  const project = uniqueName('Notify');
  await apiCreate(request, token, 'projects', { name: project });
  // Slipway's own /healthz refuses a POST (a 4xx): the notification is retried.
  const hook = `${baseURL}/healthz`;

  // The General tab: a Slack-format webhook on started and completed.
  await page.goto('/pipelines/new');
  await hydrated(page);
  await page.getByLabel('Project').selectOption({ label: project });
  await page.getByLabel('Name', { exact: true }).fill(uniqueName('Told'));
  await page.getByRole('button', { name: 'Add notification' }).click();
  const row = page.locator('[data-notification-row="0"]');
  await row.getByLabel('started', { exact: true }).check();
  await row.getByLabel('failed', { exact: true }).uncheck();
  await row.getByLabel('Webhook URL').fill(hook);
  await row.getByLabel('Format').selectOption('slack');
  await page.getByRole('tab', { name: 'Workspace' }).click();
  await page.getByRole('button', { name: 'Add stage' }).click();
  await page.getByLabel('Stage name').fill('check');
  await page.getByLabel('New task type').selectOption('condition');
  await page.getByRole('button', { name: 'Add task' }).click();
  await page.getByLabel('Task name').fill('ok');
  await page.getByLabel('Expression').fill('true');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/pipelines\/\d+$/);
  await hydrated(page);
  await expect(page.getByTestId('editor-state')).toHaveText('All changes saved');
  const pipelineId = page.url().split('/').pop();

  // Still there after a reload, as saved.
  await page.reload();
  await hydrated(page);
  const saved = page.locator('[data-notification-row="0"]');
  await expect(saved.getByLabel('Webhook URL')).toHaveValue(hook);
  await expect(saved.getByLabel('Format')).toHaveValue('slack');
  await expect(saved.getByLabel('started', { exact: true })).toBeChecked();
  await expect(saved.getByLabel('completed', { exact: true })).toBeChecked();
  await expect(saved.getByLabel('failed', { exact: true })).not.toBeChecked();
  await expect(saved.getByLabel('Send by')).toHaveValue('webhook');

  // A run: its notifications and their state on its page.
  const run = await apiCreate(request, token, `pipelines/${pipelineId}/executions`, { inputs: {} });
  await page.goto(`/executions/${run.id}`);
  await hydrated(page);
  await expect(page.getByTestId('execution-status')).toContainText('COMPLETED', { timeout: 30_000 });
  await expect(async () => {
    await page.reload();
    await hydrated(page);
    const first = page.getByTestId('notification').first();
    await expect(first.locator('[data-notification-state]')).toHaveText(/PENDING|FAILED/, { timeout: 1_000 });
    await expect(first.getByTestId('notification-outcome')).toContainText(/answered HTTP 4\d\d/, { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  const section = page.getByTestId('notifications');
  await expect(section.getByTestId('notification')).toHaveCount(2);
  await expect(section.getByTestId('notification-target').first()).toContainText(hook);
  await expect(section.getByTestId('notification-target').first()).toContainText('slack');
});
