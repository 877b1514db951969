import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/__fixtures__/test-server.js';
import { processStartTime } from '../../util/process-identity.js';
import { runCli } from '../__fixtures__/run-cli.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const TRAVEL = join(ROOT, 'examples/travel-planner/keel.config.ts');
const CHANGED = join(ROOT, 'src/cli/__fixtures__/travel-planner-changed.config.ts');
const GATEWAY_ECHO = join(ROOT, 'src/cli/__fixtures__/gateway-echo.config.ts');
const GATEWAY_ECHO_CHANGED = join(ROOT, 'src/cli/__fixtures__/gateway-echo-changed.config.ts');

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
  }, 120_000);

  it('reports the first divergence of changed instructions and exits 1', async () => {
    const text = await cli(['replay', 'trip.cassette.json', '--config', CHANGED]);
    expect(text.code).toBe(1);
    // Step 0 is the input guard, which the change leaves alone; the first model step differs.
    expect(text.stdout).toMatch(/^Replay diverged at step 1 /);
    expect(text.stdout).toContain('- recorded: #1 model "builtin:travel-planner"');
    expect(text.stdout).toContain('+ replayed: #1 model "builtin:travel-planner"');
    expect(text.stdout).toMatch(/^Prompt version: recorded code:\w+, now code:\w+\.$/m);
    const json = await cli(['replay', 'trip.cassette.json', '--config', CHANGED, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      diverged: true,
      divergence: { seq: 1, reason: 'step', expected: { kind: 'model' }, actual: { kind: 'model' } },
    });
  }, 120_000);

  it('continues live from the divergence with --live-after-divergence, and still exits 1', async () => {
    const cassette = JSON.parse(readFileSync(cassetteFile(), 'utf8')) as { steps: unknown[] };
    const text = await cli(['replay', 'trip.cassette.json', '--config', CHANGED, '--live-after-divergence']);
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(/^Replay diverged at step 1 /);
    // The guard (step 0) is served; from the first model step on, the built-in model and the
    // tools run for real (the rule model plans from the request alone: the same plan).
    expect(text.stdout).toContain(
      `Continued live from step 1: 1 step from the cassette, ${cassette.steps.length - 1} steps live; ` +
        `stop reason completed.\n\n${runOutput}`,
    );
  }, 180_000);

  it("resolves a gateway route in the live part through the config's gateway", async () => {
    const ran = await cli(['run', 'gateway-echo', 'hello there', '--config', GATEWAY_ECHO, '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    const { id } = JSON.parse(ran.stdout) as { id: string };
    const exported = await cli(['export', id, '-o', 'echo.cassette.json']);
    expect(exported.code, exported.stderr).toBe(0);
    // Unchanged code: the stand-in model carries the route's model name, so nothing runs live.
    const same = await cli([
      'replay',
      'echo.cassette.json',
      '--config',
      GATEWAY_ECHO,
      '--live-after-divergence',
      '--json',
    ]);
    expect(same.code, same.stdout).toBe(0);
    expect(JSON.parse(same.stdout)).toMatchObject({ diverged: false, live_steps: 0, output: 'hello there' });
    const changed = await cli([
      'replay',
      'echo.cassette.json',
      '--config',
      GATEWAY_ECHO_CHANGED,
      '--live-after-divergence',
      '--json',
    ]);
    expect(changed.code).toBe(1);
    expect(JSON.parse(changed.stdout)).toMatchObject({
      diverged: true,
      divergence: { seq: 0, reason: 'step', actual: { name: 'builtin:echo' } },
      live_steps: 1,
      stop_reason: 'completed',
      live_after_divergence: true,
      replayed_steps: 0,
      output: 'hello there',
    });
  }, 180_000);

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

describe('keel export through the local server that owns the database', () => {
  let app: TestServer;
  let owner: ChildProcess;
  beforeAll(async () => {
    app = await startTestServer();
    owner = spawn('sleep', ['120'], { stdio: 'ignore' });
  }, 60_000);
  afterAll(async () => {
    owner?.kill('SIGKILL');
    await app?.close();
  });

  it('reads GET /v1/runs/{id}/cassette with the local admin key', async () => {
    const { run } = await app.store.createRun({ tenantId: 'tenant-a', agent: 'echo', input: 'x' });
    const lease = await app.claim(run.id);
    const at = new Date('2030-01-01T00:00:00.000Z');
    await app.store.completeStep(lease, {
      seq: 0,
      parentSeq: null,
      kind: 'model',
      name: 'builtin:echo',
      inputHash: 'h0',
      attempt: 1,
      startedAt: at,
      endedAt: at,
      status: 'completed',
      output: {
        message: { role: 'assistant', content: 'x' },
        finishReason: 'stop',
        usage: {},
        modelId: 'echo',
      },
    });
    await app.store.finishRun(lease, {
      stopReason: 'completed',
      output: 'x',
      usage: { inputTokens: 1, outputTokens: 1 },
      costUsd: 0,
      stepCount: 1,
    });
    const keelDir = join(root, 'remote');
    mkdirSync(keelDir, { recursive: true });
    const pid = owner.pid as number;
    writeFileSync(
      join(keelDir, 'lock'),
      JSON.stringify({ pid, startTime: processStartTime(pid), url: app.url }),
    );
    writeFileSync(join(keelDir, 'admin-key'), `${app.keys.admin}\n`);

    const exported = await runCli(['export', run.id], { dataDir: keelDir, cwd: root });
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({
      keel_cassette: 1,
      agent: 'echo',
      output: 'x',
      steps: [{ seq: 0, kind: 'model', name: 'builtin:echo', input_hash: 'h0' }],
    });
    const other = await app.store.createRun({ tenantId: 'tenant-b', agent: 'echo', input: 'x' });
    const hidden = await runCli(['export', other.run.id], { dataDir: keelDir, cwd: root });
    expect(hidden.code).toBe(2);
  });
});
