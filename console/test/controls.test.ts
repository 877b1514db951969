/**
 * The Controls page in Chromium against a real `keel serve` with the travel planner: disable a
 * tool (confirmed) and see the next run plan without it, then enable it again; pin a prompt
 * version and see the pin in the API and the audit log; create a budget; a key without `admin`
 * sees the agents' state and no button. axe on every view, screenshots.
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

interface Step {
  kind: string;
  name: string;
  meta: { tools?: string[] } | null;
}

/** Clicks `button` in the open confirmation dialog, after filling its text field when given. */
async function confirm(page: Page, button: string, text?: string): Promise<void> {
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor();
  if (text !== undefined) await dialog.getByRole('textbox').fill(text);
  await dialog.getByRole('button', { name: button, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

for (const backend of consoleBackends()) {
  describeInBrowser(`console controls (${backend})`, () => {
    let server: ConsoleServer;
    let browser: Browser;
    beforeAll(async () => {
      // One after the other: whatever started is assigned, so afterAll stops it if the next fails.
      server = await startConsoleServer(backend);
      browser = await launchBrowser();
      await server.api('/v1/prompts/travel-planner', {
        body: { text: 'You plan trips.\nBe brief.\nUse the tools.', note: 'first' },
      });
      await server.api('/v1/prompts/travel-planner', {
        body: {
          text: 'You plan trips.\nBe thorough.\nUse the tools.\nName your sources.',
          note: 'more detail',
        },
      });
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
    });

    it('disables a tool after confirmation: the next run plans without it; enabling it again is audited', async () => {
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/controls');
      await page.getByRole('heading', { name: 'Kill switches and pauses' }).waitFor();
      await page.getByRole('button', { name: 'Disable weather', exact: true }).click();
      await confirm(page, 'Disable weather', 'weather API down');
      await page.getByText('disabled (every agent)').waitFor();
      const controls = await server.api<{ data: { kind: string; target: string; reason: string }[] }>(
        '/v1/controls',
      );
      expect(controls.data).toEqual([
        expect.objectContaining({ kind: 'tool_disabled', target: 'weather', reason: 'weather API down' }),
      ]);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `controls-tool-disabled-${backend}`);

      const run = await server.api<{ id: string; status: string }>('/v1/runs?wait=30', {
        body: { agent: 'travel-planner', input: 'Plan 3 days in Lisbon in May' },
      });
      expect(run.status).toBe('completed');
      const { data: steps } = await server.api<{ data: Step[] }>(`/v1/runs/${run.id}/steps`);
      expect(steps.filter((step) => step.kind === 'tool').map((step) => step.name)).not.toContain('weather');
      expect(steps.some((step) => step.kind === 'tool' && step.name === 'places')).toBe(true);
      for (const step of steps.filter((candidate) => candidate.kind === 'model'))
        expect(step.meta?.tools ?? []).not.toContain('weather');

      await page.getByRole('button', { name: 'Enable weather', exact: true }).click();
      await confirm(page, 'Enable weather');
      await page.getByRole('button', { name: 'Disable weather', exact: true }).waitFor();
      expect((await server.api<{ data: unknown[] }>('/v1/controls')).data).toEqual([]);
      const audit = page.getByRole('table', { name: 'Audit log, newest first' });
      await audit.getByText('control.clear').waitFor();
      await audit.getByText('control.set').waitFor();
      expect(consoleErrors).toEqual([]);
      await context.close();
    });

    it('pauses and resumes an agent after confirmation, with the reason given', async () => {
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/controls');
      await page.getByRole('button', { name: 'Pause travel-planner' }).click();
      await confirm(page, 'Pause travel-planner', 'maintenance');
      await page.getByRole('button', { name: 'Resume travel-planner' }).first().waitFor();
      type Agents = { data: { name: string; hold: { code: string; reason: string } | null }[] };
      const paused = await server.api<Agents>('/v1/agents');
      expect(paused.data[0]?.hold).toMatchObject({ code: 'agent_paused', reason: 'maintenance' });
      await page.getByRole('button', { name: 'Resume travel-planner' }).first().click();
      await confirm(page, 'Resume travel-planner');
      await page.getByRole('button', { name: 'Pause travel-planner' }).waitFor();
      expect((await server.api<Agents>('/v1/agents')).data[0]?.hold).toBeNull();
      const audit = page.getByRole('table', { name: 'Audit log, newest first' });
      await audit.getByText('agent.resume').waitFor();
      await screenshot(page, `controls-pause-resume-${backend}`);
      expect(consoleErrors).toEqual([]);
      await context.close();
    });

    it('pins a prompt version after confirmation, shows the diff, and the pin in the API and the audit log', async () => {
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/controls');
      await page.getByRole('heading', { name: 'Prompt versions' }).waitFor();
      await page.getByLabel('From', { exact: true }).selectOption('v1');
      await page.getByLabel('To', { exact: true }).selectOption('v2');
      const diff = page.getByRole('figure').filter({ hasText: 'v1 → v2' });
      await diff.getByText('+2').waitFor();
      await diff.getByText('Be thorough.').waitFor();
      await page.getByRole('button', { name: 'Pin v2' }).click();
      await confirm(page, 'Pin v2');
      await page.getByText('pinned version').waitFor();
      const prompts = await server.api<{ pinned_version: string | null }>('/v1/prompts/travel-planner');
      expect(prompts.pinned_version).toBe('v2');
      await page.getByLabel('Action', { exact: true }).fill('prompt.pin');
      await page.getByRole('button', { name: 'Filter' }).click();
      const audit = page.getByRole('table', { name: 'Audit log, newest first' });
      await audit.getByText('prompt.pin').waitFor();
      expect(await audit.getByRole('row').count()).toBe(2);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await page.getByRole('heading', { name: 'Prompt versions' }).scrollIntoViewIfNeeded();
      await screenshot(page, `controls-prompt-pinned-${backend}`);
      expect(consoleErrors).toEqual([]);
      await context.close();
    });

    it('creates a budget after confirmation; it is listed with its spend', async () => {
      const { context, page, consoleErrors } = await openPage(browser, { width: 420, colorScheme: 'dark' });
      await signInWithKey(page, server.url, server.adminKey, '/controls');
      const form = page.getByRole('group', { name: 'New budget' });
      await form.getByLabel('Scope', { exact: true }).selectOption('agent');
      await form.getByLabel('Scope id').fill('travel-planner');
      await form.getByLabel('Period').selectOption('day');
      await form.getByLabel('Limit (USD)').fill('5');
      await form.getByRole('button', { name: 'Create budget' }).click();
      await confirm(page, 'Create budget');
      const budgets = await server.api<{ data: { scope: string; scope_id: string; limit_usd: number }[] }>(
        '/v1/budgets',
      );
      expect(budgets.data).toEqual([
        expect.objectContaining({ scope: 'agent', scope_id: 'travel-planner', limit_usd: 5 }),
      ]);
      await page.getByRole('table', { name: 'Budgets' }).getByText('$5.00').waitFor();
      // A budget without any limit is refused by the API, whose error the dialog shows.
      await form.getByRole('button', { name: 'Create budget' }).click();
      const dialog = page.locator('dialog[open]');
      await dialog.getByRole('button', { name: 'Create budget', exact: true }).click();
      await dialog.getByText('invalid_budget').waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
      await page.getByRole('table', { name: 'Audit log, newest first' }).getByText('budget.create').waitFor();
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `controls-budget-narrow-dark-${backend}`);
      expect(consoleErrors.filter((error) => !error.includes('400'))).toEqual([]);
      await context.close();
    });

    it('says on the Gateway page that this server (the travel planner alone) runs no gateway', async () => {
      const { context, page, consoleErrors } = await openPage(browser);
      await signInWithKey(page, server.url, server.adminKey, '/gateway');
      await page.getByRole('note').getByText('This server runs no gateway').waitFor();
      await page.getByText('No gateway call in this window.').waitFor();
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `gateway-none-${backend}`);
      expect(consoleErrors).toEqual([]);
      await context.close();
    });

    it('shows a key without admin the agents state and no button that would fail', async () => {
      const reader = await server.createKey(['runs:read'], 'reader');
      const { context, page } = await openPage(browser);
      await signInWithKey(page, server.url, reader, '/controls');
      await page.getByRole('note').getByText('needs a key with the').waitFor();
      await page.getByRole('cell', { name: 'travel-planner' }).waitFor();
      expect(await page.locator('main').getByRole('button').count()).toBe(0);
      expect(await seriousA11yViolations(page)).toEqual([]);
      await screenshot(page, `controls-read-only-${backend}`);
      await context.close();
    });
  });
}
