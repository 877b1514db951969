/**
 * `keel eval` and `keel evals` on the embedded database: the travel planner's suite under the
 * gate (what CI runs), reports (JSON, JUnit, HTML), the gate's exit code, a baseline across a
 * prompt change, the stored evals, bad suites and Ctrl-C.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { runCli } from '../__fixtures__/run-cli.js';
import { pauseCalls } from '../__fixtures__/greeter-agent.js';
import { sleep } from '../../util/sleep.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const FIXTURES = join(ROOT, 'src/cli/__fixtures__');
const TRAVEL = join(ROOT, 'examples/travel-planner/keel.config.ts');
const GREETER = join(FIXTURES, 'greeter.config.ts');
const CASUAL = join(FIXTURES, 'greeter-casual.config.ts');
const GREETER_SUITE = join(FIXTURES, 'evals/greeter.yaml');

let root: string;
let dataDir: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keel-eval-'));
  dataDir = join(root, 'keel');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { dataDir, cwd: root });

interface EvalJson {
  id: string;
  pass_rate: number;
  passed: number;
  failed: number;
  errored: number;
  cost_usd: number;
  prompt_version: string;
  status: string;
  gate?: string;
  cases: { id: string; verdict: string; run_id: string; scores: { scorer: string; pass: boolean }[] }[];
  baseline?: {
    regressions: { id: string; before: string; after: string }[];
    fixes: { id: string }[];
    pass_rate: { delta: number };
  };
}

describe('keel eval', () => {
  it("runs the travel planner's suite on the built-in model under the gate (CI's eval)", async () => {
    const ran = await cli([
      'eval',
      join(ROOT, 'examples/travel-planner/evals'),
      '--config',
      TRAVEL,
      '--min-pass-rate',
      '0.8',
      '--concurrency',
      '8',
      '--json',
      '--junit',
      'travel.junit.xml',
      '--html',
      'travel.html',
    ]);
    expect(ran.code, ran.stderr + ran.stdout.slice(0, 2_000)).toBe(0);
    const report = JSON.parse(ran.stdout) as EvalJson;
    expect(report.cases.length).toBeGreaterThanOrEqual(12);
    expect(report).toMatchObject({ status: 'completed', gate: 'passed', errored: 0 });
    expect(report.pass_rate).toBeGreaterThanOrEqual(0.8);
    for (const item of report.cases) {
      expect(item.run_id).toMatch(/^run_/);
      // Every case judges both what the planner did and what it said.
      expect(item.scores.length).toBeGreaterThanOrEqual(2);
    }
    const failing = report.cases.filter((item) => item.verdict !== 'pass').map((item) => item.id);
    expect(failing).toEqual([]);

    const junit = readFileSync(join(root, 'travel.junit.xml'), 'utf8');
    expect(junit).toContain(
      `<testsuite name="travel-planner" tests="${report.cases.length}" failures="0" errors="0"`,
    );
    expect(junit.match(/<testcase /g)).toHaveLength(report.cases.length);
    const html = readFileSync(join(root, 'travel.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src=/i);
    expect(html).toContain('lisbon-3-days-may');

    // Each case's run is a real run, tagged as an eval's.
    const shown = await cli(['show', report.cases[0]!.run_id, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ trigger: 'eval', status: 'completed' });
  }, 300_000);

  it('fails the gate with exit 1 below --min-pass-rate, and passes it at or above', async () => {
    const below = await cli(['eval', GREETER_SUITE, '--config', GREETER, '--min-pass-rate', '0.8']);
    expect(below.code, below.stderr).toBe(1);
    expect(below.stderr).toContain('Gate failed: pass rate 66.7% is below 80.0%.');
    expect(below.stdout).toMatch(/✗ fail +casual-bob .*regex: output does not match/);
    expect(below.stdout).toContain('pass rate 66.7% · 2 passed · 1 failed · 0 errored · of 3');

    const atRate = await cli([
      'eval',
      GREETER_SUITE,
      '--config',
      GREETER,
      '--min-pass-rate',
      '0.6',
      '--json',
    ]);
    expect(atRate.code, atRate.stderr).toBe(0);
    expect(JSON.parse(atRate.stdout)).toMatchObject({ gate: 'passed', passed: 2, failed: 1 });
  }, 300_000);

  it('compares a prompt change with a baseline: regressions, fixes and deltas', async () => {
    const before = await cli(['eval', GREETER_SUITE, '--config', GREETER, '--json']);
    expect(before.code, before.stderr).toBe(0);
    const baseline = JSON.parse(before.stdout) as EvalJson;
    writeFileSync(join(root, 'baseline.json'), before.stdout);

    for (const reference of [baseline.id, 'baseline.json']) {
      const after = await cli(['eval', GREETER_SUITE, '--config', CASUAL, '--baseline', reference, '--json']);
      expect(after.code, after.stderr).toBe(0);
      const report = JSON.parse(after.stdout) as EvalJson;
      expect(report.prompt_version).not.toBe(baseline.prompt_version);
      expect(report.baseline).toMatchObject({
        regressions: [{ id: 'polite-ada', before: 'pass', after: 'fail' }],
        fixes: [{ id: 'casual-bob' }],
        pass_rate: { delta: 0 },
      });
    }
    const table = await cli(['eval', GREETER_SUITE, '--config', CASUAL, '--baseline', baseline.id]);
    expect(table.stdout).toContain(`Against baseline ${baseline.id}:`);
    expect(table.stdout).toContain('✗ regression polite-ada: pass → fail');
    expect(table.stdout).toContain('✓ fixed casual-bob: fail → pass');
  }, 300_000);

  it('lists and shows stored evals', async () => {
    const listed = await cli(['evals', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const { evals } = JSON.parse(listed.stdout) as { evals: EvalJson[] };
    expect(evals.length).toBeGreaterThanOrEqual(3);
    const newest = evals[0]!;
    const shown = await cli(['evals', 'show', newest.id, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: newest.id, cases: expect.any(Array) });
    const text = await cli(['evals', 'list']);
    expect(text.stdout).toMatch(/^id +suite +agent +prompt +status +pass rate/);
    const missing = await cli(['evals', 'show', 'eval_nope']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('No eval eval_nope.');
  }, 300_000);

  it('runs only the cases with --tag, and refuses bad flags, suites and baselines with exit 2', async () => {
    const tagged = await cli(['eval', GREETER_SUITE, '--config', GREETER, '--tag', 'any', '--json']);
    expect(JSON.parse(tagged.stdout)).toMatchObject({ passed: 1, cases: [{ id: 'any-cy' }] });

    writeFileSync(join(root, 'broken.yaml'), '- input: hi\n  expect:\n    - contans: hi\n');
    const broken = await cli(['eval', 'broken.yaml', '--config', GREETER, '--agent', 'greeter']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('broken.yaml:3: [0].expect[0].contans: unknown scorer');

    writeFileSync(join(root, 'not-a-report.json'), '{"cases": 3}');
    const badBaseline = await cli([
      'eval',
      GREETER_SUITE,
      '--config',
      GREETER,
      '--baseline',
      'not-a-report.json',
    ]);
    expect(badBaseline.code).toBe(2);
    expect(badBaseline.stderr).toContain('not an eval report');

    for (const [flag, value] of [
      ['--min-pass-rate', '80'],
      ['--concurrency', '0'],
      ['--trials', 'two'],
    ] as const) {
      const refused = await cli(['eval', GREETER_SUITE, '--config', GREETER, flag, value]);
      expect(refused.code, `${flag} ${value}`).toBe(2);
      expect(refused.stderr).toContain(flag);
    }
    writeFileSync(
      join(root, 'custom.yaml'),
      [
        'agent: greeter',
        'cases:',
        '  - { id: short, input: Greet Al, expect: [{ custom: short_greeting }] }',
        '  - { id: unknown-scorer, input: Greet Al, expect: [{ custom: nope }] }',
      ].join('\n'),
    );
    const custom = await cli(['eval', 'custom.yaml', '--config', GREETER, '--json']);
    const customReport = JSON.parse(custom.stdout) as EvalJson;
    expect(customReport.cases.map((item) => item.verdict)).toEqual(['pass', 'error']);
    expect(customReport).toMatchObject({ passed: 1, errored: 1 });

    // A refusal after the database opened still closes it: the next command gets it.
    const unknownBaseline = await cli([
      'eval',
      GREETER_SUITE,
      '--config',
      GREETER,
      '--baseline',
      'eval_nope',
    ]);
    expect(unknownBaseline.code).toBe(2);
    expect(unknownBaseline.stderr).toContain('--baseline eval_nope is neither a file nor a stored eval');
    const missingFolder = await cli([
      'eval',
      GREETER_SUITE,
      '--config',
      GREETER,
      '--junit',
      'no/such/dir/j.xml',
    ]);
    expect(missingFolder.code).toBe(2);
    expect(missingFolder.stderr).toContain('Cannot write no/such/dir/j.xml');
    expect((await cli(['evals', 'list', '--json'])).code).toBe(0);

    const noSuite = await cli(['eval']);
    expect(noSuite.code).toBe(2);
    const misplaced = await cli(['eval', GREETER_SUITE, '--outcome', 'rejected']);
    expect(misplaced.stderr).toContain('--outcome is a flag of keel eval capture.');
    const captureMisplaced = await cli(['eval', 'capture', '--agent', 'greeter', '--trials', '2']);
    expect(captureMisplaced.stderr).toContain('--trials is a flag of keel eval <suite>.');
  }, 300_000);

  it('stops on Ctrl-C with exit 130, keeping the finished cases', async () => {
    const slow = Array.from(
      { length: 6 },
      (_, i) => `  - { id: slow-${i}, input: slow greet P${i}, expect: [{ contains: P${i} }] }`,
    );
    writeFileSync(join(root, 'slow.yaml'), ['agent: greeter', 'cases:', ...slow].join('\n'));
    const controller = new AbortController();
    let stdout = '';
    let stderr = '';
    const started = pauseCalls.count;
    const running = main(['eval', 'slow.yaml', '--config', GREETER, '--concurrency', '1', '--json'], {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: { KEEL_DATA_DIR: dataDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH },
      cwd: root,
      signal: controller.signal,
    });
    // Interrupt while the third case is pausing: two have finished.
    let settled = false;
    void running.finally(() => (settled = true));
    while (pauseCalls.count < started + 3 && !settled) await sleep(20);
    controller.abort();
    expect(await running, stderr).toBe(130);
    const report = JSON.parse(stdout) as EvalJson;
    expect(report.status).toBe('interrupted');
    // Two had finished; the third either ended before the cancel reached it (kept) or was
    // cancelled (dropped). Nothing after it started.
    const ids = report.cases.map((item) => item.id);
    expect(ids.slice(0, 2)).toEqual(['slow-0', 'slow-1']);
    expect(ids.length).toBeLessThanOrEqual(3);
    expect(pauseCalls.count).toBe(started + 3);
    expect(stderr).toContain(`Interrupted: ${ids.length} finished case trial(s) kept in eval ${report.id}.`);
    const shown = await cli(['evals', 'show', report.id, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ status: 'interrupted', total: ids.length });
  }, 300_000);
});
