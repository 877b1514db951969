import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load-config.js';
import { parseDeclaredBudgets } from './declared-budgets.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe('declared budgets', () => {
  it('loads budgets from a config file, resolving the tenant of each', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'keel-budgets-'));
    directories.push(directory);
    writeFileSync(
      join(directory, 'keel.config.ts'),
      `import { defineAgent, defineConfig } from 'keel';
export default defineConfig({
  agents: [defineAgent({ name: 'a', instructions: 'x', model: 'builtin:echo' })],
  budgets: [
    { scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 10 },
    { scope: 'session', scopeId: 's1', period: 'total', limitUsd: 0.5, softPct: 90 },
    { scope: 'agent', scopeId: 'a', period: 'month', limitTokens: 1000, onExhausted: 'approval' },
  ],
});
`,
    );
    const { budgets } = await loadConfig({ cwd: directory, env: {} });
    expect(budgets).toEqual([
      { tenantId: 'acme', scope: 'tenant', scopeId: 'acme', period: 'day', limitUsd: 10 },
      { tenantId: 'default', scope: 'session', scopeId: 's1', period: 'total', limitUsd: 0.5, softPct: 90 },
      {
        tenantId: 'default',
        scope: 'agent',
        scopeId: 'a',
        period: 'month',
        limitTokens: 1000,
        onExhausted: 'approval',
      },
    ]);
  });

  it.each([
    [{ scope: 'planet', scopeId: 'x', period: 'day', limitUsd: 1 }, 'budgets[0].scope'],
    [{ scope: 'agent', period: 'day', limitUsd: 1 }, 'budgets[0].scopeId'],
    [{ scope: 'tenant', scopeId: 'a', period: 'week', limitUsd: 1 }, 'budgets[0].period'],
    [{ scope: 'tenant', scopeId: 'a', period: 'day', limitUsd: -1 }, 'budgets[0].limitUsd'],
    [{ scope: 'tenant', scopeId: 'a', period: 'day', limitUsd: '10' }, 'budgets[0].limitUsd'],
    [{ scope: 'tenant', scopeId: 'a', period: 'day' }, 'budgets[0].limitUsd'],
    [{ scope: 'tenant', scopeId: 'a', period: 'day', limitTokens: 1.5 }, 'budgets[0].limitTokens'],
    [{ scope: 'tenant', scopeId: 'a', period: 'day', limitUsd: 1, softPct: 0 }, 'budgets[0].softPct'],
    [
      { scope: 'tenant', scopeId: 'a', period: 'day', limitUsd: 1, onExhausted: 'panic' },
      'budgets[0].onExhausted',
    ],
    [{ scope: 'tenant', scopeId: 'a', period: 'day', limitUsd: 1, limit: 2 }, 'budgets[0].limit'],
  ])('rejects %j with config_invalid naming %s', (entry, field) => {
    let error: unknown;
    try {
      parseDeclaredBudgets([entry], 'keel.config.ts');
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'config_invalid', details: { field } });
    expect((error as Error).message).toContain(field);
  });

  it('rejects a list that is not an array, and a budget declared twice', () => {
    expect(() => parseDeclaredBudgets({}, 'k.ts')).toThrow(/budgets must be an array/);
    const twice = { scope: 'tenant', scopeId: 'a', period: 'day', limitUsd: 1 };
    expect(() => parseDeclaredBudgets([twice, twice], 'k.ts')).toThrow(/twice/);
  });
});
