import { expect, test } from '@playwright/test';
import { adminUser } from '../playwright.config';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from './helpers';

test('actions show on the Audit page, found with its filters', async ({ page }) => {
  // Arrange: a project made on its page, an API token, a member added through the API.
  await signIn(page);
  await page.goto('/projects');
  await hydrated(page);
  const project = uniqueName('Audited');
  await page.getByLabel('Name', { exact: true }).fill(project);
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.locator(`tr[data-project="${project}"]`)).toBeVisible();
  const tokenName = uniqueName('audit token');
  const token = await createToken(page, tokenName);
  const member = `member-${Date.now().toString(36)}`;
  await apiCreate(page.request, token, 'users', { username: member, password: 'member-password-1' });
  const added = await page.request.put(`/api/v1/projects/${encodeURIComponent(project)}/members/${member}`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { role: 'developer' },
  });
  expect(added.status(), await added.text()).toBe(200);

  // Act: open Audit from the navigation, then filter by action, project and user.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Audit' })).toBeVisible();
  await hydrated(page);
  const table = page.getByTestId('audit-table');
  await expect(table.locator('tr[data-action="token.created"]').first()).toContainText(tokenName);

  await page.getByLabel('Action', { exact: true }).selectOption('project.created');
  await expect(page).toHaveURL(/action=project\.created/);
  const created = table.locator('tr[data-action="project.created"]', { hasText: project });
  await expect(created).toHaveCount(1);
  await expect(created.getByTestId('actor')).toHaveText(adminUser);
  await expect(table.locator('tr[data-action]:not([data-action="project.created"])')).toHaveCount(0);

  await page.getByLabel('Project', { exact: true }).selectOption({ label: project });
  await page.getByLabel('Action', { exact: true }).selectOption('');
  await expect(page).toHaveURL(/project=\d+/);
  await expect(page).not.toHaveURL(/action=/);
  const memberRow = table.locator('tr[data-action="member.added"]');
  await expect(memberRow).toHaveCount(1);
  await expect(memberRow.getByTestId('target')).toHaveText(`user ${member}`);
  await expect(memberRow.getByTestId('detail')).toContainText('role: developer');
  await expect(table.locator('tr[data-action]')).toHaveCount(2);

  await page.getByLabel('User', { exact: true }).fill(member);
  await page.getByLabel('User', { exact: true }).press('Enter');
  await expect(page).toHaveURL(new RegExp(`user=${member}`));
  await expect(page.getByText('No entries match')).toBeVisible();

  // Assert: the filtered address opens the same list on its own.
  await page.goto(`/audit?action=project.created&user=${adminUser}`);
  await hydrated(page);
  await expect(page.getByLabel('Action', { exact: true })).toHaveValue('project.created');
  await expect(page.getByLabel('User', { exact: true })).toHaveValue(adminUser);
  await expect(table.locator('tr[data-action="project.created"]', { hasText: project })).toHaveCount(1);
});

test('a developer has no Audit link and is refused the page', async ({ page, browser, baseURL }) => {
  // Arrange: a user who is a developer in a project, not an administrator anywhere.
  await signIn(page);
  const token = await createToken(page, uniqueName('audit setup'));
  const project = uniqueName('Not audited');
  await apiCreate(page.request, token, 'projects', { name: project });
  const developer = `dev-${Date.now().toString(36)}`;
  await apiCreate(page.request, token, 'users', { username: developer, password: 'developer-password-1' });
  const added = await page.request.put(`/api/v1/projects/${encodeURIComponent(project)}/members/${developer}`, {
    headers: { Authorization: `Bearer ${token}` },
    data: { role: 'developer' },
  });
  expect(added.status()).toBe(200);
  const context = await browser.newContext({ baseURL });
  const theirs = await context.newPage();

  // Act
  await signIn(theirs, developer, 'developer-password-1');
  await theirs.goto('/audit');
  await hydrated(theirs);

  // Assert
  await expect(theirs.getByRole('alert')).toContainText('needs the global admin role or the administrator role');
  await expect(theirs.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' })).toHaveCount(0);
  await expect(theirs.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' })).toBeVisible();
  await context.close();
});
