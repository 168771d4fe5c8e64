import { expect, test } from '@playwright/test';
import { hydrated, signIn, uniqueName } from './helpers';

test('a visitor without a session is sent to sign in', async ({ page }) => {
  await page.goto('/projects');
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole('heading', { name: 'Sign in to Slipway' })).toBeVisible();
});

test('a wrong password is refused with a message', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('User name').fill('e2e-admin');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('wrong password');
  await expect(page).toHaveURL(/\/login$/);
});

test('create a project and see it listed after a reload', async ({ page }) => {
  await signIn(page);
  await page.goto('/projects');
  await hydrated(page);
  const name = uniqueName('Demo');

  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Description').fill('Deploys the test hook');
  await page.getByRole('button', { name: 'Create project' }).click();

  const row = page.locator(`tr[data-project="${name}"]`);
  await expect(row).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(row).toContainText('Deploys the test hook');
  await expect(row).toContainText('administrator');
  await page.screenshot({ path: 'test-results/screenshots/projects.png', fullPage: true });
});

test('an empty name shows an error beside the field and creates nothing', async ({ page }) => {
  await signIn(page);
  await page.goto('/projects');
  await hydrated(page);
  const rowsBefore = await page.locator('tr[data-project]').count();

  await page.getByRole('button', { name: 'Create project' }).click();

  await expect(page.locator('[data-field-error="name"]')).toHaveText('is required');
  await expect(page.locator('tr[data-project]')).toHaveCount(rowsBefore);
});

test('rename and then delete a project', async ({ page }) => {
  await signIn(page);
  await page.goto('/projects');
  await hydrated(page);
  const name = uniqueName('Temp');
  const renamed = `${name} renamed`;
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Create project' }).click();
  const row = page.locator(`tr[data-project="${name}"]`);
  await expect(row).toBeVisible();

  await row.getByRole('button', { name: 'Edit' }).click();
  await row.getByLabel('Name').fill(renamed);
  await row.getByRole('button', { name: 'Save' }).click();
  const renamedRow = page.locator(`tr[data-project="${renamed}"]`);
  await expect(renamedRow).toBeVisible();

  await renamedRow.getByRole('button', { name: 'Delete' }).click();
  await renamedRow.getByRole('button', { name: 'Confirm delete' }).click();
  await expect(renamedRow).toHaveCount(0);
});

test('sign out ends the session', async ({ page }) => {
  await signIn(page);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/projects');
  await expect(page).toHaveURL(/\/login$/);
});
