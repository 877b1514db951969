import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../__fixtures__/run-cli.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const TRAVEL = join(ROOT, 'examples/travel-planner/keel.config.ts');
const CHANGED = join(ROOT, 'src/cli/__fixtures__/travel-planner-changed.config.ts');

let root: string;
let dataDir: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keel-cassettes-'));
  dataDir = join(root, 'keel');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { dataDir, cwd: root });

describe('keel export, import and replay', () => {
  let runId: string;
  let runOutput: string;
  const cassetteFile = () => join(root, 'trip.cassette.json');

  beforeAll(async () => {
    const ran = await cli(['run', 'travel-planner', '3 days in Lisbon in May', '--config', TRAVEL]);
    expect(ran.code, ran.stderr).toBe(0);
    runOutput = ran.stdout;
    const listed = await cli(['runs', '--json']);
    runId = (JSON.parse(listed.stdout) as { id: string }[])[0]!.id;
  }, 120_000);

  it('exports a run to a file and imports it as a new ended run', async () => {
    const exported = await cli(['export', runId, '-o', 'trip.cassette.json']);
    expect(exported.code, exported.stderr).toBe(0);
    const cassette = JSON.parse(readFileSync(cassetteFile(), 'utf8')) as {
      keel_cassette: number;
      agent: string;
    };
    expect(cassette).toMatchObject({ keel_cassette: 1, agent: 'travel-planner' });

    const imported = await cli(['import', 'trip.cassette.json', '--json']);
    expect(imported.code, imported.stderr).toBe(0);
    const { id } = JSON.parse(imported.stdout) as { id: string };
    expect(id).not.toBe(runId);
    const shown = await cli(['show', id, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ trigger: 'import', status: 'completed' });
  });

  it('replays a cassette byte for byte, from the file or the run id', async () => {
    const fromFile = await cli(['replay', 'trip.cassette.json', '--config', TRAVEL]);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toBe(runOutput);
    const fromRun = await cli(['replay', runId, '--config', TRAVEL, '--json']);
    expect(fromRun.code, fromRun.stderr).toBe(0);
    expect(JSON.parse(fromRun.stdout)).toMatchObject({ diverged: false });
  });

  it('reports the first divergence of changed instructions and exits 1', async () => {
    const text = await cli(['replay', 'trip.cassette.json', '--config', CHANGED]);
    expect(text.code).toBe(1);
    // Step 0 is the input guard, which the change leaves alone; the first model step differs.
    expect(text.stdout).toMatch(/^Replay diverged at step 1 /);
    expect(text.stdout).toContain('- recorded: #1 model "builtin:travel-planner"');
    expect(text.stdout).toContain('+ replayed: #1 model "builtin:travel-planner"');
    const json = await cli(['replay', 'trip.cassette.json', '--config', CHANGED, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      diverged: true,
      divergence: { seq: 1, reason: 'step', expected: { kind: 'model' }, actual: { kind: 'model' } },
    });
  });

  it('refuses bad cassettes with stable codes (exit 2)', async () => {
    writeFileSync(join(root, 'v2.json'), JSON.stringify({ keel_cassette: 2 }));
    writeFileSync(join(root, 'broken.json'), JSON.stringify({ keel_cassette: 1, agent: 'travel-planner' }));
    const future = await cli(['import', 'v2.json']);
    expect(future.code).toBe(2);
    expect(future.stderr).toContain('[cassette_version_unsupported]');
    const broken = await cli(['replay', 'broken.json', '--config', TRAVEL]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('Invalid cassette: input: missing. [cassette_invalid]');
    const unknown = await cli(['export', 'run_nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('[run_not_found]');
  });
});
