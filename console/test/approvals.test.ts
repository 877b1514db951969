/**
 * The approvals inbox in Chromium against a real `keel serve` (PGlite and Postgres) running a
 * config with a tool that needs approval (fixtures/approval.config.ts): a run waits, the inbox
 * shows the tool, its arguments and the run's context; approving it (with a comment, confirmed)
 * lets the run finish, in the API and in the page; a key without the approvals scope sees no
 * buttons; the playground shows an approval asked mid-run inline, and rejecting it there ends
 * the run with the model told why.
 */
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
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

const CONFIG = fileURLToPath(new URL('./fixtures/approval.config.ts', import.meta.url));

interface RunView {
  id: string;
  status: string;
  output: unknown;
}

for (const backend of consoleBackends()) {
  describeInBrowser(`console approvals (${backend})`, () => {
    let server: ConsoleServer;
    let browser: Browser;
    beforeAll(async () => {
      // One after the other: whatever started is assigned, so afterAll stops it if the next fails.
      server = await startConsoleServer(backend, { KEEL_CONFIG: CONFIG });
      browser = await launchBrowser();
    }, 90_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    async function runReaches(runId: string, statuses: string[]): Promise<RunView> {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const run = await server.api<RunView>(`/v1/runs/${runId}`);
        if (statuses.includes(run.status)) return run;
        if (Date.now() > deadline)
          throw new Error(`run ${runId} is ${run.status}, not ${statuses.join('/')}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }

    it('shows a pending approval with its context; approving it lets the run finish', async () => {
      const { id: runId } = await server.api<{ id: string }>('/v1/runs', {
        body: { agent: 'booker', input: 'Book 3 nights in Lisbon please', user_id: 'user-42' },
      });
      await runReaches(runId, ['awaiting_approval']);

      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/approvals');
      const card = page.getByRole('article', { name: 'book_hotel' });
      await card.waitFor();
      await card.getByText('"city": "Lisbon"').waitFor();
      await card.getByText('"nights": 3').waitFor();
      await card.getByText('booker', { exact: true }).waitFor();
      await card.getByText('user-42').waitFor();
      await card.getByText('Book 3 nights in Lisbon please').waitFor();
      await expect(card.getByRole('link', { name: runId }).getAttribute('href')).resolves.toBe(
        `/runs/${runId}`,
      );
      await screenshot(page, `approvals-pending-${backend}`);
      expect(await seriousA11yViolations(page)).toEqual([]);

      await card.getByRole('button', { name: 'Approve' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('Comment (optional)').fill('Fine for the demo');
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `approvals-confirm-${backend}`);
      await dialog.getByRole('button', { name: 'Approve' }).click();
      await dialog.waitFor({ state: 'hidden' });

      const ended = await runReaches(runId, ['completed', 'failed', 'cancelled']);
      expect(ended.status).toBe('completed');
      expect(ended.output).toBe('Booked: HOTEL-LISBON-3.');
      const [decided] = (
        await server.api<{ data: { status: string; reason: string; decided_by: string }[] }>(
          `/v1/approvals?run_id=${runId}`,
        )
      ).data;
      expect(decided).toMatchObject({ status: 'approved', reason: 'Fine for the demo' });

      // The pending list empties; the decided filter shows it, with its run now completed.
      await page.getByText('Nothing waits for a decision.').waitFor();
      await page.getByLabel('Show').selectOption('approved');
      const approved = page.getByRole('article', { name: 'book_hotel' });
      await approved.getByText('Approved', { exact: true }).waitFor();
      await approved.getByText('“Fine for the demo”', { exact: false }).waitFor();
      await approved.getByText('completed', { exact: true }).waitFor();
      await screenshot(page, `approvals-approved-${backend}`);
      expect(await seriousA11yViolations(page)).toEqual([]);
      expect(consoleErrors).toEqual([]);
      await context.close();
    });

    it('shows a key without the approvals scope the API’s refusal and no buttons; reads well narrow and dark', async () => {
      const { id: runId } = await server.api<{ id: string }>('/v1/runs', {
        body: { agent: 'booker', input: 'Book 1 night in Porto' },
      });
      await runReaches(runId, ['awaiting_approval']);
      const reader = await server.createKey(['runs:read'], 'reader');
      const { context, page } = await openPage(browser, { colorScheme: 'dark', width: 420 });
      await signInWithKey(page, server.url, reader, '/approvals');
      // GET /v1/approvals needs the approvals scope: the page says so with the API's code.
      await page.getByText('forbidden').waitFor();
      expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
      await screenshot(page, `approvals-reader-dark-narrow-${backend}`);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await context.close();

      const admin = await openPage(browser, { colorScheme: 'dark', width: 420 });
      await signInWithKey(admin.page, server.url, server.adminKey, '/approvals');
      await admin.page.getByRole('article', { name: 'book_hotel' }).getByText('"city": "Porto"').waitFor();
      await screenshot(admin.page, `approvals-dark-narrow-${backend}`);
      expect(await seriousA11yViolations(admin.page)).toEqual([]);
      // Tidy: cancel the run so the next test starts with an empty inbox.
      await server.api(`/v1/runs/${runId}/cancel`, { method: 'POST' });
      await admin.context.close();
    });

    it('shows an approval asked mid-run inline in the playground; rejecting it ends the run', async () => {
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/playground');
      await page.getByLabel('Agent').selectOption('booker');
      await page.getByLabel('Message').fill('Book 2 nights in Madrid');
      await page.getByRole('button', { name: 'Send' }).click();
      const inline = page.getByRole('group', { name: 'Approval for book_hotel' });
      await inline.getByText('waits for a decision').waitFor();
      await inline.getByText('"city": "Madrid"').waitFor();
      await page
        .getByRole('list', { name: /Steps of run/ })
        .getByText('book_hotel')
        .waitFor();
      await screenshot(page, `playground-approval-${backend}`);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await inline.getByRole('button', { name: 'Reject' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('Comment (optional)').fill('Too expensive');
      await dialog.getByRole('button', { name: 'Reject' }).click();
      await page.getByText(/Not booked: .*Too expensive/).waitFor();
      await page.locator('.message.agent .badge.ok', { hasText: 'completed' }).waitFor();
      await screenshot(page, `playground-rejected-${backend}`);
      expect(consoleErrors).toEqual([]);
      await context.close();
    });
  });
}
