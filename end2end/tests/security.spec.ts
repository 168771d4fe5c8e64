import { Browser, expect, Page, test } from '@playwright/test';
import { apiCreate, createToken, hydrated, signIn, uniqueName } from './helpers';

// Sign-in throttling as a person sees it, the pages under the Content-Security-Policy,
// and the account page: changing the password and signing out everywhere.

/**
 * Collects what the browser reports as broken: CSP violations, console errors, uncaught
 * errors. An answer's HTTP status is not a problem here (the 429 of a throttled sign-in,
 * the 404 of the favicon Chromium asks for): the tests check the answers they expect.
 */
async function watchForProblems(page: Page) {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (message.text().startsWith('Failed to load resource: the server responded with a status of')) return;
    problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  // The event fires in the document for every blocked script, style, fetch or frame.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const seen = ((window as unknown as { __violations?: string[] }).__violations ??= []);
      seen.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
    });
  });
  return async () => [
    ...problems,
    ...(await page.evaluate(() => (window as unknown as { __violations?: string[] }).__violations ?? [])),
  ];
}

/** A user of its own (made through the API with an admin's token), so their sessions are theirs alone. */
async function newUser(page: Page, password: string) {
  await signIn(page);
  const token = await createToken(page, uniqueName('security'));
  const username = `user-${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
  await apiCreate(page.request, token, 'users', { username, password, is_admin: false });
  return { username, token };
}

async function signedInContext(browser: Browser, baseURL: string, username: string, password: string) {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await signIn(page, username, password);
  return { context, page };
}

test('pages hydrate and follow the live stream under the Content-Security-Policy', async ({ page }) => {
  test.setTimeout(60_000);
  const problems = await watchForProblems(page);
  await signIn(page);
  const token = await createToken(page, uniqueName('csp'));
  const project = uniqueName('Policy');
  await apiCreate(page.request, token, 'projects', { name: project });
  const pipeline = await apiCreate(page.request, token, 'pipelines', {
    project,
    name: uniqueName('Checked'),
    stages: [{ name: 'check', tasks: [{ name: 'gate', type: 'condition', expression: "'a' == 'a'" }] }],
  });

  // Every page is served with the policy, and its nonce is the hydration script's.
  const answer = await page.goto('/executions');
  const policy = answer!.headers()['content-security-policy'];
  expect(policy).toContain("script-src 'nonce-");
  expect(policy).toContain("frame-ancestors 'none'");
  const nonce = /'nonce-([^']+)'/.exec(policy)![1];
  await hydrated(page);
  expect(await page.locator('script[type="module"]').first().getAttribute('nonce')).not.toBeNull();
  expect(nonce.length).toBeGreaterThan(10);
  // The page names its icon, so browsers do not ask for a missing /favicon.ico.
  const icon = await page.request.get((await page.locator('link[rel="icon"]').getAttribute('href'))!);
  expect(icon.status()).toBe(200);
  expect(icon.headers()['content-type']).toContain('image/svg+xml');

  // The open page hears of a new run over the live stream (connect-src 'self').
  const run = await apiCreate(page.request, token, `pipelines/${pipeline.id}/executions`, {});
  await expect(page.locator(`tr[data-execution="${run.id}"]`)).toBeVisible();

  for (const path of ['/projects', `/pipelines/${pipeline.id}`, `/executions/${run.id}`, '/settings/account', '/login']) {
    await page.goto(path);
    await hydrated(page);
  }
  expect(await problems()).toEqual([]);
});

test('too many failed sign-ins show how long to wait', async ({ page, baseURL }) => {
  const problems = await watchForProblems(page);
  const username = `guessed-${Date.now().toString(36)}`;
  // The failures a guesser would make, sent from this server's own pages.
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const answer = await page.request.post('/api/sign_in', {
      headers: { Origin: baseURL! },
      form: { username, password: 'guess' },
    });
    expect(answer.status()).toBe(401);
  }

  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill('guess');
  await page.getByRole('button', { name: 'Sign in' }).click();

  await expect(page.getByRole('alert')).toHaveText(
    /too many failed sign-in attempts for this user name; try again in \d+ seconds/,
  );
  await expect(page).toHaveURL(/\/login$/);
  expect(await problems()).toEqual([]);
});

test('changing the password and signing out everywhere end the other sessions', async ({ page, browser, baseURL }) => {
  test.setTimeout(60_000);
  const password = 'first-password-1';
  const { username } = await newUser(page, password);
  const laptop = await signedInContext(browser, baseURL!, username, password);
  const phone = await signedInContext(browser, baseURL!, username, password);

  // Changing the password on the laptop keeps the laptop signed in and signs the phone out.
  await laptop.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Your account' }).click();
  await expect(laptop.page).toHaveURL(/\/settings\/account$/);
  await laptop.page.getByLabel('Current password').fill(password);
  await laptop.page.getByLabel('New password').fill('second-password-2');
  await laptop.page.getByRole('button', { name: 'Change password' }).click();
  await expect(laptop.page.getByRole('status')).toContainText('Password changed');
  await expect(laptop.page.getByLabel('Current password')).toHaveValue('');
  await phone.page.goto('/projects');
  await expect(phone.page).toHaveURL(/\/login$/);
  await laptop.page.reload();
  await hydrated(laptop.page);
  await expect(laptop.page.getByTestId('current-user')).toContainText(username);

  // The phone signs in again with the new password; Sign out everywhere on the laptop ends both.
  await signIn(phone.page, username, 'second-password-2');
  await laptop.page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(laptop.page).toHaveURL(/\/login$/);
  await phone.page.goto('/projects');
  await expect(phone.page).toHaveURL(/\/login$/);
  await laptop.context.close();
  await phone.context.close();
});
