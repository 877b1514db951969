/**
 * The Evals pages in Chromium against a real `keel serve` (PGlite and Postgres): two evals of the
 * travel planner, one per prompt version, run through the eval harness before the server starts,
 * are listed newest first with their figures, filtered by agent and version; one opens with its
 * cases, whose runs link to their run pages; and the Controls page shows each prompt version's
 * latest eval beside it.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seedEvals, type SeededEvals } from './__fixtures__/seed-evals.js';
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

/** The table's rows as text, cell by cell. */
async function rows(page: Page, table: string): Promise<string[][]> {
  const found = page.locator(`table.${table} tbody tr`);
  const texts: string[][] = [];
  for (let index = 0; index < (await found.count()); index++)
    texts.push((await found.nth(index).locator('th, td').allInnerTexts()).map((text) => text.trim()));
  return texts;
}

for (const backend of consoleBackends()) {
  describeInBrowser(`console evals (${backend})`, () => {
    let server: ConsoleServer;
    let browser: Browser;
    let seeded: SeededEvals;

    beforeAll(async () => {
      server = await startConsoleServer(
        backend,
        {},
        {
          beforeServe: async (env) => {
            seeded = await seedEvals(env);
          },
        },
      );
      browser = await launchBrowser();
    }, 180_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('lists the evals with their figures, filters them, and opens one whose cases link to their runs', async () => {
      const [first, second] = seeded.versions;
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/');
      await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Evals' }).click();
      await page.getByRole('heading', { name: 'Evals' }).waitFor();
      await page.locator('table.evals-table').waitFor();
      const listed = await rows(page, 'evals-table');
      expect(listed.map((row) => row[0])).toEqual([second!.evalId, first!.evalId]);
      expect(listed[1]!.slice(1, 7)).toEqual([
        'travel-smoke',
        'travel-planner',
        first!.version,
        'completed',
        '66.7 %',
        '2 / 1 / 0',
      ]);
      expect(listed[0]!.slice(3, 7)).toEqual([second!.version, 'completed', '100.0 %', '3 / 0 / 0']);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `evals-list-${backend}`);

      // Filters: the agent (from the server's agents) and, through the URL, a prompt version.
      await page.getByLabel('Agent').selectOption('travel-planner');
      await page.waitForURL(/agent=travel-planner/);
      await expect.poll(async () => (await rows(page, 'evals-table')).length).toBe(2);
      await page.goto(`${server.url}/evals?agent=travel-planner&prompt_version=${first!.version}`);
      await expect
        .poll(async () => (await rows(page, 'evals-table')).map((row) => row[0]))
        .toEqual([first!.evalId]);
      await page.getByRole('button', { name: 'Show every version' }).click();
      await expect.poll(async () => (await rows(page, 'evals-table')).length).toBe(2);
      await page.goto(`${server.url}/evals?agent=nobody`);
      await page.getByText('No eval of nobody.').waitFor();

      // The first eval: its figures and its cases, in suite order.
      await page.goto(`${server.url}/evals`);
      await page.getByRole('link', { name: first!.evalId }).click();
      await page.getByRole('heading', { name: 'Eval travel-smoke' }).waitFor();
      await page.locator('table.eval-cases').waitFor();
      const header = await page.locator('dl.run-header').innerText();
      expect(header).toContain('66.7 %');
      expect(header).toContain(first!.version);
      const cases = await rows(page, 'eval-cases');
      expect(cases.map((row) => `${row[0]}:${row[2]}`)).toEqual([
        'lisbon\ncity:pass',
        'rome:fail',
        'weather-outage:pass',
      ]);
      expect(cases[1]![4]).toContain('contains: output lacks "Lisbon"');
      expect(cases[1]![5]).toContain(first!.runIds.rome);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `eval-detail-${backend}`);

      // A case's run opens on its own page.
      await page.getByRole('link', { name: first!.runIds.rome }).click();
      await page.waitForURL(new RegExp(`/runs/${first!.runIds.rome}$`));
      await page.getByRole('heading', { name: `Run ${first!.runIds.rome}` }).waitFor();
      await page.locator('.run-header').getByText('eval', { exact: true }).waitFor();
      expect(consoleErrors).toEqual([]);
      await context.close();
    });

    it('shows each prompt version’s latest eval on the Controls page, linked to it', async () => {
      const [first, second] = seeded.versions;
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/controls');
      const prompts = page.getByRole('region', { name: 'Prompt versions' });
      await prompts
        .getByRole('link', { name: `Latest eval of ${second!.version}: 100.0 % passed` })
        .waitFor();
      const latestOfFirst = prompts.getByRole('link', {
        name: `Latest eval of ${first!.version}: 66.7 % passed`,
      });
      await latestOfFirst.waitFor();
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `prompt-versions-evals-${backend}`);
      await latestOfFirst.click();
      await page.waitForURL(new RegExp(`/evals/${first!.evalId}$`));
      await page.getByRole('heading', { name: 'Eval travel-smoke' }).waitFor();

      // An eval that does not exist: the API's code, not a blank page.
      await page.goto(`${server.url}/evals/eval_does_not_exist`);
      await page.getByText('eval_not_found').waitFor();
      expect(consoleErrors.filter((text) => !text.includes('404'))).toEqual([]);
      await context.close();
    });
  });
}
