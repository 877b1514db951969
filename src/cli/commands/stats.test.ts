import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attributeSeedCalls,
  SEED_WINDOW,
  seedAnalytics,
} from '../../analytics/__fixtures__/seed-analytics.js';
import { openStore } from '../../journal/open-store.js';
import { compareResponse, summaryResponse } from '../../server/analytics-schemas.js';
import { main } from '../main.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const WINDOW = ['--from', SEED_WINDOW.from.toISOString(), '--to', SEED_WINDOW.to.toISOString()];

describe('keel stats', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'keel-stats-'));
    const { store, client } = await openStore({ dataDir: join(dataDir, 'data') });
    await seedAnalytics(client, 'keel');
    await attributeSeedCalls(client, 'keel');
    await store.close();
  }, 120_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function stats(args: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await main(['stats', ...args], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: { KEEL_DATA_DIR: dataDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH },
      cwd: ROOT,
      signal: new AbortController().signal,
    });
    return { code, stdout, stderr };
  }

  it('prints the summary of every tenant, of one, per group, and as JSON', async () => {
    const all = await stats([...WINDOW, '--json']);
    expect(all.code).toBe(0);
    expect(summaryResponse.parse(JSON.parse(all.stdout))).toMatchObject({ tenant: null, runs: 8 });
    const one = summaryResponse.parse(
      JSON.parse((await stats([...WINDOW, '--tenant', 't1', '--json'])).stdout),
    );
    expect(one).toMatchObject({
      tenant: 't1',
      runs: 7,
      outcomes: { committed: 2, rejected: 1, speculative: 4 },
    });
    expect(one.cost_per_committed_outcome_usd).toBeCloseTo(0.525, 12);

    const table = await stats([...WINDOW, '--tenant', 't1']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^runs +7 \(6 ended\)$/m);
    expect(table.stdout).toMatch(/^cost per committed outcome +\$0\.5250$/m);
    expect(table.stdout).toMatch(/^search +3 +2 +66\.7%$/m);
    expect(table.stdout).toMatch(/^Gateway calls outside runs: 3 \(1 errors\), \$0\.5300$/m);
    // Per developer: the calls that named none, and ada's two sessions.
    expect(table.stdout).toMatch(/^TENANT +USER +SESSIONS +CALLS +ERRORS +COST$/m);
    expect(table.stdout).toMatch(/^t1 +\(none\) +0 +1 +0 +\$0\.5000$/m);
    expect(table.stdout).toMatch(/^t1 +ada +2 +2 +1 +\$0\.0300$/m);

    const grouped = await stats([...WINDOW, '--tenant', 't1', '--group-by', 'agent']);
    expect(grouped.stdout).toMatch(/^AGENT +RUNS +SUCCESS/m);
    expect(grouped.stdout).toMatch(/^support +5 +75\.0%/m);
    expect(grouped.stdout).toMatch(/^triage +2 +50\.0%/m);
  }, 180_000);

  it('compares two prompt versions, with the tests named', async () => {
    const args = [
      '--compare',
      '--tenant',
      't1',
      '--agent',
      'support',
      '--a-version',
      'code:aaa',
      '--b-version',
      'code:bbb',
      ...WINDOW,
    ];
    const json = compareResponse.parse(JSON.parse((await stats([...args, '--json'])).stdout));
    expect(json).toMatchObject({ mode: 'versions', a: { runs: 2 }, b: { runs: 1 } });
    const table = await stats(args);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^success rate +100\.0% +0\.0% +z-test +0\.0833 +no$/m);
    expect(table.stdout).toMatch(
      /^cost per run \(mean\) +\$0\.1500 +\$0\.3000 +Mann-Whitney U +0\.540 +no$/m,
    );
    expect(table.stdout).toContain('significant when p < 0.05');
  }, 180_000);

  it('refuses bad flags with exit 2, naming the field', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--group-by', 'week'], /group_by/],
      [['--from', 'yesterday'], /from/],
      [['--from', '2026-11-08T00:00:00Z', '--to', '2026-11-01T00:00:00Z'], /to: must be after from/],
      [['--a-version', 'x'], /need --compare/],
      [['--compare', '--a-version', 'x', '--b-version', 'y'], /agent/],
      [['--compare', '--group-by', 'agent'], /--group-by/],
      [['--limit', '3'], /does not take --limit/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await stats(args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(message);
    }
  });
});
