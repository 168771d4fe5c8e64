import { expect, Page } from '@playwright/test';
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
