import { expect, test } from '@playwright/test';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from './helpers';

test('a global admin reads the server status; a member is neither shown the link nor the numbers', async ({ browser, page }) => {
  // Arrange: an admin with a token; a member without the admin role.
  await signIn(page);
  const token = await createToken(page, uniqueName('status token'));
  const member = `status-${Date.now().toString(36)}`;
  await apiCreate(page.request, token, 'users', { username: member, password: 'member-password-1' });

  // Act: open the page from the navigation.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Server status', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Server status' })).toBeVisible();
  await hydrated(page);

  // Assert: the figures the API answers are the ones shown, and this replica is listed.
  const answer = await page.request.get('/api/v1/status', { headers: { Authorization: `Bearer ${token}` } });
  expect(answer.status(), await answer.text()).toBe(200);
  const status = await answer.json();
  await expect(page.getByTestId('status-version')).toHaveText(status.version);
  await expect(page.getByTestId('status-database')).toContainText(status.database_backend);
  await expect(page.getByTestId('status-retention')).toContainText(`${status.keep_days} days`);
  await expect(page.getByTestId('status-replicas').locator(`tr[data-replica="${status.replica_id}"]`)).toContainText("(this page's)");
  await expect(page.getByTestId('status-last-prune')).not.toBeEmpty();

  // The Refresh button asks again without leaving the page.
  await page.getByRole('button', { name: 'Refresh' }).click();
  await expect(page.getByTestId('status-version')).toHaveText(status.version);
  await page.screenshot({ path: 'test-results/screenshots/status.png', fullPage: true });

  const memberContext = await browser.newContext();
  const memberPage = await memberContext.newPage();
  await signIn(memberPage, member, 'member-password-1');
  await expect(memberPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Server status' })).toHaveCount(0);
  await memberPage.goto('/settings/status');
  await expect(memberPage.getByRole('alert')).toContainText('global admin');
  await memberContext.close();
});
