/**
 * The playground and the sessions pages in Chromium against a real `keel serve` (PGlite and
 * Postgres) running the travel planner: a chat streams its answer in while the trace beside it
 * lists the run's steps (the tool calls included); a follow-up goes to the same session; the
 * sessions list shows that session and its page shows both turns, with links to the runs.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
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

interface RunView {
  id: string;
  status: string;
  session_id: string | null;
  input: unknown;
  output: unknown;
}

/** The text-delta events the page's stream received (counted by wrapping the page's fetch). */
const COUNT_DELTAS = `
  window.__deltas = 0;
  const original = window.fetch;
  window.fetch = async (...args) => {
    const response = await original(...args);
    if (!String(args[0]).endsWith('/events') || response.body === null) return response;
    const [mine, theirs] = response.body.tee();
    (async () => {
      const reader = mine.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        window.__deltas += (value.match(/event: text-delta/g) || []).length;
      }
    })();
    return new Response(theirs, { status: response.status, headers: response.headers });
  };
`;

for (const backend of consoleBackends()) {
  describeInBrowser(`console playground and sessions (${backend})`, () => {
    let server: ConsoleServer;
    let browser: Browser;
    let page: Page;
    let consoleErrors: string[];
    let sessionId: string;
    beforeAll(async () => {
      // One after the other: whatever started is assigned, so afterAll stops it if the next fails.
      server = await startConsoleServer(backend);
      browser = await launchBrowser();
      ({ page, consoleErrors } = await openPage(browser));
    }, 90_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('chats with the travel planner: the answer streams in and the trace lists its steps', async () => {
      await page.addInitScript(COUNT_DELTAS);
      await signInWithKey(page, server.url, server.adminKey, '/playground');
      await page.getByRole('option', { name: 'travel-planner' }).waitFor({ state: 'attached' });
      await expect(page.getByLabel('Agent').inputValue()).resolves.toBe('travel-planner');
      expect(await seriousA11yViolations(page)).toEqual([]);
      await page.getByLabel('Message').fill('3 days in Lisbon in May');
      await page.getByRole('button', { name: 'Send' }).click();

      const conversation = page.locator('.conversation');
      await conversation
        .getByText('Lisbon, Portugal: 3 days in May', { exact: true })
        .waitFor({ timeout: 30_000 });
      const steps = page.getByRole('list', { name: /Steps of run/ });
      for (const tool of ['geocode', 'weather', 'places'])
        await steps.getByText(tool, { exact: true }).waitFor();
      await page.locator('.message.agent .badge.ok', { hasText: 'completed' }).waitFor();
      sessionId = new URL(page.url()).searchParams.get('session') ?? '';
      expect(sessionId).toMatch(/^playground-[0-9a-f]{12}$/);
      await screenshot(page, `playground-chat-${backend}`);
      await page.locator('.trace-summary', { hasText: '· completed ·' }).waitFor();
      // The answer came through the event stream, as text deltas.
      expect(await page.evaluate('window.__deltas')).toBeGreaterThan(0);
      const runLink = page.getByRole('link', { name: /^Open run run_/ });
      const runId = ((await runLink.textContent()) ?? '').replace('Open run ', '');
      const run = await server.api<RunView>(`/v1/runs/${runId}`);
      expect(run).toMatchObject({
        status: 'completed',
        session_id: sessionId,
        input: '3 days in Lisbon in May',
      });
      // Tool steps sit under the model step that asked for them (from the trace).
      expect(await steps.locator('.trace-step.child').count()).toBeGreaterThanOrEqual(3);
      await screenshot(page, `playground-chat-${backend}`);
      expect(await seriousA11yViolations(page)).toEqual([]);
    });

    it('sends a follow-up to the same session', async () => {
      await page.getByLabel('Message').fill('Make it 2 days in Porto instead');
      await page.getByRole('button', { name: 'Send follow-up' }).click();
      await page.getByText('Porto, Portugal: 2 days in May', { exact: true }).waitFor({ timeout: 30_000 });
      // The streamed text may arrive before the run's end is read: wait for both ends.
      await expect
        .poll(() => page.locator('.message.agent .badge.ok', { hasText: 'completed' }).count(), {
          timeout: 15_000,
        })
        .toBe(2);
      await expect
        .poll(
          () => server.api<{ run_count: number; active_run_id: string | null }>(`/v1/sessions/${sessionId}`),
          { timeout: 15_000 },
        )
        .toMatchObject({ run_count: 2, active_run_id: null });
      await screenshot(page, `playground-follow-up-${backend}`);
      expect(consoleErrors).toEqual([]);
    });

    it('lists the session, and its page shows both turns with links to the runs', async () => {
      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Sessions' }).click();
      const row = page.getByRole('row', { name: new RegExp(sessionId) });
      await row.getByText('3 days in Lisbon in May').waitFor();
      await row.getByText('travel-planner').waitFor();
      await screenshot(page, `sessions-${backend}`);
      expect(await seriousA11yViolations(page)).toEqual([]);

      await row.getByRole('link', { name: sessionId }).click();
      await page.getByRole('heading', { level: 1, name: `Session ${sessionId}` }).waitFor();
      const conversation = page.locator('.conversation');
      await conversation.getByText('3 days in Lisbon in May').waitFor();
      await conversation.getByText('Make it 2 days in Porto instead').waitFor();
      await conversation.getByText('Lisbon, Portugal: 3 days in May', { exact: true }).waitFor();
      await conversation.getByText('Porto, Portugal: 2 days in May', { exact: true }).waitFor();
      await expect(conversation.getByRole('link', { name: /^Run run_/ }).count()).resolves.toBe(2);
      await screenshot(page, `session-detail-${backend}`);
      expect(await seriousA11yViolations(page)).toEqual([]);

      // Continued from the session page: a third turn, answered.
      await page.getByLabel('Message travel-planner').fill('And in October?');
      await page.getByRole('button', { name: 'Send' }).click();
      await conversation
        .getByText('Porto, Portugal: 2 days in October', { exact: true })
        .waitFor({ timeout: 30_000 });

      // Narrow and dark.
      const narrow = await openPage(browser, { colorScheme: 'dark', width: 420 });
      await signInWithKey(narrow.page, server.url, server.adminKey, `/sessions/${sessionId}`);
      await narrow.page.getByText('And in October?').waitFor();
      await screenshot(narrow.page, `session-detail-dark-narrow-${backend}`);
      expect(await seriousA11yViolations(narrow.page)).toEqual([]);
      await narrow.page.goto(`${server.url}/playground?session=${sessionId}&agent=travel-planner`);
      await narrow.page.getByText('And in October?').waitFor();
      // A follow-up from the reopened session keeps the earlier turns on screen.
      await narrow.page.getByLabel('Message', { exact: true }).fill('Make it 4 days');
      await narrow.page.getByRole('button', { name: 'Send follow-up' }).click();
      await narrow.page
        .getByText('Porto, Portugal: 4 days in October', { exact: true })
        .waitFor({ timeout: 30_000 });
      await narrow.page.getByText('3 days in Lisbon in May', { exact: true }).waitFor();
      await screenshot(narrow.page, `playground-dark-narrow-${backend}`);
      expect(await seriousA11yViolations(narrow.page)).toEqual([]);
      await narrow.context.close();
      expect(consoleErrors).toEqual([]);
    });
  });
}
