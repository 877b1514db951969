/**
 * Signing in to the console, both ways, in Chromium against a real `keel serve`: the one-time
 * link (embedded database: it works once, leaves no token in the address bar) and a pasted key;
 * a read-only key sees no buttons that would fail; a bad key gets the API's code.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKeelProcesses, waitFor } from '../../test/keel-processes.js';
import {
  consoleBackends,
  describeInBrowser,
  launchBrowser,
  openPage,
  screenshot,
  seriousA11yViolations,
  signInWithKey,
  startConsoleServer,
  storedKey,
  type ConsoleServer,
} from './console-harness.js';

for (const backend of consoleBackends()) {
  describeInBrowser(`console sign-in (${backend})`, () => {
    let server: ConsoleServer;
    let browser: Browser;
    beforeAll(async () => {
      // One after the other: whatever started is assigned, so afterAll stops it if the next fails.
      server = await startConsoleServer(backend);
      browser = await launchBrowser();
    }, 90_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('serves the app at / with hashed, long-cached assets', async () => {
      const page = await fetch(`${server.url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await page.text();
      const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(script).toBeDefined();
      const asset = await fetch(server.url + script!, { headers: { 'accept-encoding': 'gzip' } });
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(asset.headers.get('content-type')).toContain('text/javascript');
      // A deep link is the app too; an unknown asset and the API's paths are not.
      expect((await fetch(`${server.url}/runs/run_123`)).headers.get('content-type')).toContain('text/html');
      expect((await fetch(`${server.url}/assets/nope.js`)).status).toBe(404);
      expect((await fetch(`${server.url}/v1/runs`)).status).toBe(401);
    });

    if (backend === 'pglite')
      it('signs in with the one-time link, which leaves no token in the URL and works once', async () => {
        expect(server.loginLink).toMatch(/#login=/);
        const { context, page, consoleErrors } = await openPage(browser);
        await page.goto(server.loginLink!);
        await page.getByRole('navigation', { name: 'Console' }).waitFor();
        expect(page.url()).not.toContain('login=');
        expect(await storedKey(page)).toMatch(/^keel_sk_/);
        await page.getByText('tenant default').waitFor();
        await screenshot(page, `sign-in-link-${backend}`);
        expect(await seriousA11yViolations(page)).toEqual([]);
        expect(consoleErrors).toEqual([]);
        // Signing out ends a link's session: its key is revoked, not just forgotten.
        const sessionKey = (await storedKey(page))!;
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByLabel('API key').waitFor();
        await waitFor(
          'the session key revoked',
          async () =>
            (await fetch(`${server.url}/v1/me`, { headers: { authorization: `Bearer ${sessionKey}` } }))
              .status,
          (status) => status === 401,
          10_000,
        );
        await context.close();

        // The same link again: refused with its code, and the sign-in form is offered.
        const second = await openPage(browser);
        await second.page.goto(server.loginLink!);
        await second.page.getByText('login_link_invalid').waitFor();
        await expect(second.page.getByLabel('API key').isVisible()).resolves.toBe(true);

        // `keel console` asks the running server for a fresh link, which signs in.
        const printed = await createKeelProcesses().runKeel(['console'], server.env);
        const fresh = printed.stdout().trim();
        expect(fresh).toMatch(new RegExp(`^${server.url}/#login=`));
        await second.page.goto(fresh);
        await second.page.getByRole('navigation', { name: 'Console' }).waitFor();
        await second.context.close();
      });

    it('is usable from the keyboard: a skip link first, then the navigation, Enter opens a page', async () => {
      const { context, page } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey);
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
      // Tab along the navigation to Runs, then Enter.
      for (let presses = 0; presses < 10; presses++) {
        await page.keyboard.press('Tab');
        if ((await page.evaluate('document.activeElement?.textContent')) === 'Runs') break;
      }
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Runs');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Runs' }).waitFor();
      expect(page.url()).toBe(`${server.url}/runs`);
      await screenshot(page, `keyboard-runs-${backend}`);
      await context.close();
    });

    it('shows a page that cannot load as an error inside the frame, never a blank page', async () => {
      const { context, page } = await openPage(browser);
      // A tab left open across a deploy asks for a page chunk that is gone.
      await page.route(/\/assets\/Gateway-[^/]+\.js$/, (route) => route.abort());
      await signInWithKey(page, server.url, server.adminKey);
      await page.getByRole('link', { name: 'Gateway' }).click();
      await page.getByRole('alert').getByText('This page failed to render').waitFor();
      // The frame survives: another page renders.
      await page.getByRole('link', { name: 'Runs' }).click();
      await page.getByRole('heading', { level: 1, name: 'Runs' }).waitFor();
      await context.close();
    });

    it('signs in with a pasted key (read-only here; the Controls suite checks such a key sees no button that would fail); a bad key is refused', async () => {
      const { context, page } = await openPage(browser);
      await page.goto(`${server.url}/`);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await page.getByLabel('API key').fill('keel_sk_not_a_real_key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('unauthorized').waitFor();
      await screenshot(page, `sign-in-refused-${backend}`);

      const readOnly = await server.createKey(['runs:read'], 'read-only console');
      await signInWithKey(page, server.url, readOnly);
      await expect(page.getByText('read-only console').isVisible()).resolves.toBe(true);
      await screenshot(page, `sign-in-key-${backend}`);
      // Signing out forgets the key.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('API key').waitFor();
      expect(await storedKey(page)).toBeNull();
      await context.close();
    });
  });
}
