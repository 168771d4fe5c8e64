import { expect, test } from '@playwright/test';
import { hydrated, signIn, uniqueName } from './helpers';

test('a token is created with an expiry, and one without', async ({ page, request }) => {
  await signIn(page);
  await page.goto('/settings/tokens');
  await hydrated(page);
  await expect(page.getByLabel('Expires')).toHaveValue('90');

  const weekly = uniqueName('weekly');
  await page.getByLabel('Name', { exact: true }).fill(weekly);
  await page.getByLabel('Expires').selectOption({ label: 'in 7 days' });
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.getByTestId('new-token').textContent())?.trim() ?? '';
  const week = new Date(Date.now() + 7 * 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
  const weeklyRow = page.locator(`tr[data-token="${weekly}"]`);
  await expect(weeklyRow).toContainText(week);
  await expect(weeklyRow).toContainText('active');
  const me = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${token}` } });
  expect(me.status()).toBe(200);

  const forever = uniqueName('forever');
  await page.getByLabel('Name', { exact: true }).fill(forever);
  await page.getByLabel('Expires').selectOption('never');
  await page.getByRole('button', { name: 'Create token' }).click();
  const foreverRow = page.locator(`tr[data-token="${forever}"]`);
  await expect(foreverRow.locator('td').nth(4)).toHaveText('never');
});
