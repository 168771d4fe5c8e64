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

test('an approver sees the waiting approval in the navigation and approves it on the runtime view', async ({ page }) => {
  // Arrange: a project with an approver (a viewer), and a pipeline that waits for them.
  await signIn(page);
  const token = await createToken(page, uniqueName('approvals token'));
  const project = uniqueName('Gated');
  await apiCreate(page.request, token, 'projects', { name: project });
  const approver = `approver-${Date.now().toString(36)}`;
  await apiCreate(page.request, token, 'users', { username: approver, password: 'approver-password-1' });
  const added = await page.request.put(`/api/v1/projects/${encodeURIComponent(project)}/members/${approver}`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { role: 'viewer' },
  });
  expect(added.status(), await added.text()).toBe(200);
  const pipeline = await apiCreate(page.request, token, 'pipelines', {
    project,
    name: 'release',
    inputs: [{ name: 'TAG', default: 'v42' }],
    stages: [
      {
        name: 'gate',
        tasks: [{ name: 'approve', type: 'approval', approvers: [approver], summary: 'Ship ${input.TAG} to production?' }],
      },
      { name: 'after', tasks: [{ name: 'check', type: 'condition', expression: "'${gate.approve.output.decision}' == 'approved'" }] },
    ],
  });

  // The editor shows the approval task's fields as saved.
  await page.goto(`/pipelines/${pipeline.id}`);
  await hydrated(page);
  await page.getByRole('tab', { name: 'Workspace' }).click();
  await expect(page.getByLabel('Approvers')).toHaveValue(approver);
  await expect(page.getByLabel('Expires after (seconds)')).toHaveValue('86400');

  const started = await apiCreate(page.request, token, `pipelines/${pipeline.id}/executions`, {});

  // Act: the approver signs in, follows the navigation to the waiting run and approves it.
  await page.context().clearCookies();
  await signIn(page, approver, 'approver-password-1');
  const waiting = page.getByTestId('approvals-waiting');
  await expect(waiting).toContainText('1');
  await waiting.click();
  await expect(page).toHaveURL(/status=WAITING/);
  await page.goto(`/executions/${started.id}`);
  await hydrated(page);
  const panel = page.getByTestId('approval-panel');
  await expect(panel.getByTestId('approval-summary')).toHaveText('Ship v42 to production?');
  await expect(panel).toContainText(`Who decides: ${approver}`);
  await expect(panel.getByTestId('approval-expiry')).toContainText('expires');
  await page.screenshot({ path: 'test-results/screenshots/approval-waiting.png', fullPage: true });
  await panel.getByLabel('Comment (optional)').fill('looks good');
  await panel.getByRole('button', { name: 'Approve' }).click();

  // Assert: the run goes on and completes; the decision is the task's output.
  await expect(page.getByTestId('execution-status')).toContainText('COMPLETED', { timeout: 15_000 });
  const run = await (
    await page.request.get(`/api/v1/executions/${started.id}`, { headers: { Authorization: `Bearer ${token}` } })
  ).json();
  expect(run.stages[0].tasks[0].output.decision).toBe('approved');
  expect(run.stages[0].tasks[0].output.responded_by).toBe(approver);
  expect(run.stages[0].tasks[0].output.comment).toBe('looks good');
});
