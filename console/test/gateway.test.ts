/**
 * The Gateway page in Chromium against a real `keel serve` whose config runs a gateway in front
 * of a fake OpenAI server (at the wire): calls through the gateway's HTTP endpoint (two answered,
 * one failed, which opens the breaker) show up as the deployment's requests, error rate, breaker
 * state, the key's spend and the spend of the user one call named (a server without a gateway:
 * controls.test.ts). axe, screenshots.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import {
  consoleBackends,
  describeInBrowser,
  launchBrowser,
  openPage,
  screenshot,
  seriousA11yViolations,
  signInWithKey,
  startConsoleServer,
  type ConsoleServer,
} from './console-harness.js';

const CONFIG = new URL('./__fixtures__/gateway.config.ts', import.meta.url).pathname;

interface Usage {
  deployments: { deployment: string; requests: number; errors: number }[];
}

for (const backend of consoleBackends()) {
  describeInBrowser(`console gateway (${backend})`, () => {
    let server: ConsoleServer;
    let upstream: FakeOpenAIServer;
    let browser: Browser;
    beforeAll(async () => {
      upstream = await createFakeOpenAIServer();
      // One after the other: whatever started is assigned, so afterAll stops it if the next fails.
      server = await startConsoleServer(backend, {
        KEEL_CONFIG: CONFIG,
        FAKE_OPENAI_URL: upstream.url,
        FAKE_OPENAI_KEY: 'sk-fake',
      });
      browser = await launchBrowser();
      upstream.enqueue({
        content: 'Lisbon in May is mild.',
        usage: { promptTokens: 1200, completionTokens: 300 },
      });
      upstream.enqueue({ content: 'Pack layers.', usage: { promptTokens: 800, completionTokens: 100 } });
      upstream.enqueue({ kind: 'error', status: 500, message: 'upstream down' });
      const ask = (content: string, headers: Record<string, string> = {}) =>
        fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${server.adminKey}`,
            'content-type': 'application/json',
            ...headers,
          },
          body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content }] }),
        });
      // The first call names its developer and session, as a coding agent's recipe does.
      expect((await ask('Weather in Lisbon?', { 'x-keel-user': 'ada', 'x-keel-session': 's1' })).status).toBe(
        200,
      );
      expect((await ask('What to pack?')).status).toBe(200);
      expect((await ask('And in June?')).status).toBeGreaterThanOrEqual(500);
      // Call records are written in batches: wait until the three are counted.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const usage = await server.api<Usage>('/v1/gateway/usage?window=1h');
        if (usage.deployments[0]?.requests === 3) break;
        if (Date.now() > deadline) throw new Error(`usage never counted 3 calls: ${JSON.stringify(usage)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      await upstream?.close();
    });

    it('shows the deployments with breaker state, request and error rates, and spend by key', async () => {
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/gateway');
      const deployments = page.getByRole('table').filter({ hasText: 'p95 latency' });
      const row = deployments.getByRole('row').filter({ hasText: 'fake-openai' });
      await row.waitFor();
      await row.getByText(/^open until/).waitFor();
      await row.getByText('33.3 %').waitFor();
      await row.getByRole('cell', { name: '3', exact: true }).waitFor();
      await page.getByRole('img', { name: /Requests per time bucket: 3/ }).waitFor();
      const keys = page.getByRole('table').filter({ hasText: 'API key' });
      await keys.getByRole('row').filter({ hasText: 'default' }).waitFor();
      expect(await keys.getByRole('row').count()).toBe(2);
      // Spend by user: ada's call (one session), and the two that named no one.
      const users = page.getByRole('table').filter({ hasText: 'Sessions' });
      await users.getByRole('row').filter({ hasText: 'ada' }).waitFor();
      await users.getByRole('row').filter({ hasText: 'no user named' }).waitFor();
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `gateway-${backend}`);
      await page.getByLabel('Window', { exact: true }).selectOption('7d');
      await page.getByRole('img', { name: /Requests per time bucket: 3/ }).waitFor();
      expect(consoleErrors).toEqual([]);
      await context.close();

      const narrow = await openPage(browser, { width: 420, colorScheme: 'dark' });
      await signInWithKey(narrow.page, server.url, server.adminKey, '/gateway');
      await narrow.page.getByRole('row').filter({ hasText: 'fake-openai' }).first().waitFor();
      expect(await seriousA11yViolations(narrow.page)).toEqual([]);
      await screenshot(narrow.page, `gateway-narrow-dark-${backend}`);
      await narrow.context.close();
    });
  });
}
