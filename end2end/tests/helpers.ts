import { APIRequestContext, expect, Page } from '@playwright/test';
import { adminPassword, adminUser } from '../playwright.config';

/** Waits until the wasm has hydrated the page, so clicks reach Leptos handlers. */
export async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
}

export async function signIn(page: Page, user = adminUser, password = adminPassword) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('current-user')).toContainText(user);
  await hydrated(page);
}

/** A name no other test (or earlier run) uses. */
export function uniqueName(prefix: string) {
  return `${prefix} ${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`;
}

/** Creates an API token on the tokens page (as a person would) and returns it. */
export async function createToken(page: Page, name: string) {
  await page.goto('/settings/tokens');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.getByTestId('new-token').textContent())?.trim() ?? '';
  expect(token.length).toBeGreaterThan(10);
  return token;
}

/** POSTs to the JSON API with the token and expects a 201. */
export async function apiCreate(request: APIRequestContext, token: string, path: string, data: unknown) {
  const answer = await request.post(`/api/v1/${path}`, {
    headers: { Authorization: `Bearer ${token}` },
    data,
  });
  expect(answer.status(), await answer.text()).toBe(201);
  return answer.json();
}

/** Marks the current document; `expectSameDocument` fails if the page was loaded again since. */
export async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as { __seedMarker: number }).__seedMarker = 1));
}
export async function expectSameDocument(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { __seedMarker?: number }).__seedMarker)).toBe(1);
}
