import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../__fixtures__/run-cli.js';

const ROOT = resolve(import.meta.dirname, '../../..');
let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'keel-budgets-cli-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { dataDir, cwd: ROOT });

describe('keel budgets', () => {
  it('creates, lists, updates and deletes a budget in the embedded database', async () => {
    const created = await cli([
      'budgets',
      'create',
      '--scope',
      'tenant',
      '--period',
      'day',
      '--limit-usd',
      '10',
      '--json',
    ]);
    expect(created.code).toBe(0);
    const budget = JSON.parse(created.stdout) as {
      id: string;
      scope_id: string;
      limit_usd: number;
      spent_usd: number;
    };
    expect(budget).toMatchObject({ scope_id: 'default', limit_usd: 10, spent_usd: 0 });

    const listed = await cli(['budgets', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(budget.id);
    expect(listed.stdout).toMatch(/SPENT USD/);

    const updated = await cli([
      'budgets',
      'update',
      budget.id,
      '--limit-usd',
      '20',
      '--limit-tokens',
      '5000',
      '--json',
    ]);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ limit_usd: 20, limit_tokens: 5000 });
    const cleared = await cli(['budgets', 'update', budget.id, '--limit-usd', 'none', '--json']);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ limit_usd: null, limit_tokens: 5000 });

    const deleted = await cli(['budgets', 'delete', budget.id]);
    expect(deleted).toMatchObject({ code: 0 });
    expect(deleted.stdout).toContain(`Deleted ${budget.id}`);
    expect((await cli(['budgets', 'list'])).stdout).toBe('No budgets.\n');
  });

  it('bad input: usage errors (exit 2) and the API codes, nothing written', async () => {
    expect((await cli(['budgets'])).code).toBe(2);
    expect((await cli(['budgets', 'create', '--period', 'day', '--limit-usd', '1'])).code).toBe(2);
    expect(
      (await cli(['budgets', 'create', '--scope', 'tenant', '--period', 'day', '--limit-usd', 'ten'])).code,
    ).toBe(2);
    expect((await cli(['budgets', 'update', 'bud_x', '--period', 'hour'])).code).toBe(2);
    const badPeriod = await cli([
      'budgets',
      'create',
      '--scope',
      'tenant',
      '--period',
      'week',
      '--limit-usd',
      '1',
    ]);
    expect(badPeriod.code).not.toBe(0);
    expect(badPeriod.stderr).toMatch(/period/);
    const noLimit = await cli([
      'budgets',
      'create',
      '--scope',
      'agent',
      '--scope-id',
      'a',
      '--period',
      'day',
    ]);
    expect(noLimit.code).not.toBe(0);
    expect(noLimit.stderr).toMatch(/limit_usd/);
    const missing = await cli(['budgets', 'delete', 'bud_missing']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/bud_missing not found/);
    expect((await cli(['budgets', 'list', '--json'])).stdout).toBe('[]\n');
  });

  it('takes --on-exhausted approval on create and update, and refuses an unknown mode', async () => {
    const waiting = await cli([
      'budgets',
      'create',
      '--scope',
      'agent',
      '--scope-id',
      'planner',
      '--period',
      'month',
      '--limit-tokens',
      '1000',
      '--on-exhausted',
      'approval',
      '--json',
    ]);
    expect(waiting.code).toBe(0);
    const created = JSON.parse(waiting.stdout) as { id: string; on_exhausted: string };
    expect(created.on_exhausted).toBe('approval');
    const badMode = await cli([
      'budgets',
      'create',
      '--scope',
      'tenant',
      '--period',
      'day',
      '--limit-usd',
      '1',
      '--on-exhausted',
      'panic',
    ]);
    expect(badMode.code).not.toBe(0);
    expect(badMode.stderr).toMatch(/on_exhausted/);
    const back = await cli(['budgets', 'update', created.id, '--on-exhausted', 'stop', '--json']);
    expect(JSON.parse(back.stdout)).toMatchObject({ on_exhausted: 'stop' });
    const again = await cli(['budgets', 'update', created.id, '--on-exhausted', 'approval', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ on_exhausted: 'approval' });
    expect((await cli(['budgets', 'delete', created.id])).code).toBe(0);
  }, 120_000);
});
