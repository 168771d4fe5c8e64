import { expect, Page, test } from '@playwright/test';
import { hubPassword, hubUser, kubeToken, kubeUrl } from '../playwright.config';
import { hydrated, signIn, uniqueName } from './helpers';

async function createProject(page: Page, name: string) {
  await page.goto('/projects');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Create project' }).click();
  await expect(page.locator(`tr[data-project="${name}"]`)).toBeVisible();
}

async function openNewEndpointForm(page: Page, project: string) {
  await page.goto('/endpoints');
  await hydrated(page);
  await page.getByRole('button', { name: 'New endpoint' }).click();
  await page.getByLabel('Project').selectOption({ label: project });
}

async function validateRow(page: Page, name: string) {
  const row = page.locator(`tr[data-endpoint="${name}"]`);
  await row.getByRole('button', { name: 'Validate' }).click();
  return row;
}

test('a developer adds both endpoint kinds and validates them against the stand-ins', async ({ page }) => {
  await signIn(page);
  const project = uniqueName('Endpoints');
  await createProject(page, project);

  // Docker Hub registry endpoint, right password.
  await openNewEndpointForm(page, project);
  await page.getByLabel('Name', { exact: true }).fill('hub');
  await page.getByLabel('Repository or registry URL').fill('https://index.docker.io/v1/');
  await page.getByLabel('User name').fill(hubUser);
  await page.getByLabel('Password').fill(hubPassword);
  // The form's own Validate (rows of endpoints made by earlier tests have one each).
  await page.getByRole('region', { name: 'New endpoint' }).getByRole('button', { name: 'Validate' }).click();
  await expect(page.getByTestId('draft-validation')).toContainText('valid');
  await page.screenshot({ path: 'test-results/screenshots/endpoint-form.png', fullPage: true });
  await page.getByRole('button', { name: 'Save' }).click();
  const hubRow = await validateRow(page, 'hub');
  await expect(hubRow.locator('[data-validation]')).toHaveText('✓ valid');
  await expect(page.locator('body')).not.toContainText(hubPassword);

  // The same registry with a wrong password: a clear red message.
  await openNewEndpointForm(page, project);
  await page.getByLabel('Name', { exact: true }).fill('hub-wrong');
  await page.getByLabel('Repository or registry URL').fill('https://index.docker.io/v1/');
  await page.getByLabel('User name').fill(hubUser);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Save' }).click();
  const wrongRow = await validateRow(page, 'hub-wrong');
  await expect(wrongRow.locator('[data-validation]')).toHaveText('✗ failed');
  await expect(wrongRow).toContainText('password');

  // Kubernetes endpoint with the cluster's token, then a wrong token.
  for (const [name, token, expected] of [
    ['dev-cluster', kubeToken, '✓ valid'],
    ['bad-cluster', 'wrong-token', '✗ failed'],
  ]) {
    await openNewEndpointForm(page, project);
    await page.getByLabel('Kubernetes').check();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('API server URL').fill(kubeUrl);
    await page.getByLabel('Default namespace').fill('default');
    await page.getByLabel('Bearer token').fill(token);
    await page.getByRole('button', { name: 'Save' }).click();
    const row = await validateRow(page, name);
    await expect(row.locator('[data-validation]')).toHaveText(expected);
  }
  await page.screenshot({ path: 'test-results/screenshots/endpoints.png', fullPage: true });
});

test('a field error shows beside the field and nothing is saved', async ({ page }) => {
  await signIn(page);
  const project = uniqueName('Bad input');
  await createProject(page, project);
  await openNewEndpointForm(page, project);
  await page.getByLabel('Name', { exact: true }).fill('no-password');
  await page.getByLabel('Repository or registry URL').fill('https://index.docker.io/v1/');
  await page.getByLabel('User name').fill(hubUser);
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('[data-field-error="password"]')).toContainText('required');
  await expect(page.locator('tr[data-endpoint="no-password"]')).toHaveCount(0);
});

test('a viewer sees endpoints but cannot edit them', async ({ page }) => {
  await signIn(page);
  const project = uniqueName('Viewing');
  await createProject(page, project);
  await openNewEndpointForm(page, project);
  await page.getByLabel('Name', { exact: true }).fill('registry');
  await page.getByLabel('Server type').selectOption('registry');
  await page.getByLabel('Repository or registry URL').fill('http://127.0.0.1:5000');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('tr[data-endpoint="registry"]')).toBeVisible();

  // The admin creates a user and makes them a viewer of the project.
  const viewer = `viewer${Date.now().toString(36)}`;
  await page.goto('/settings/users');
  await hydrated(page);
  await page.getByLabel('User name').fill(viewer);
  await page.getByLabel('Password').fill('viewer-password');
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page.locator(`tr[data-user="${viewer}"]`)).toBeVisible();
  await page.goto('/projects');
  await hydrated(page);
  await page.locator(`tr[data-project="${project}"]`).getByRole('link', { name: 'Members' }).click();
  await hydrated(page);
  await page.getByLabel('User name').fill(viewer);
  await page.getByLabel('Role').selectOption('viewer');
  await page.getByRole('button', { name: 'Save member' }).click();
  await expect(page.locator(`tr[data-member="${viewer}"]`)).toContainText('viewer');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await signIn(page, viewer, 'viewer-password');
  await page.goto('/endpoints');
  await hydrated(page);
  const row = page.locator('tr[data-endpoint="registry"]');
  await expect(row).toContainText('read only');
  await expect(row.getByRole('button', { name: 'Edit' })).toHaveCount(0);
});
