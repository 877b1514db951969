import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/__fixtures__/test-server.js';
import { traceResponse } from '../../server/trace-schemas.js';
import { processStartTime } from '../../util/process-identity.js';
import { main } from '../main.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const TRAVEL = join(ROOT, 'examples/travel-planner/keel.config.ts');

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keel-trace-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function cliIn(keelDir: string, args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { KEEL_DATA_DIR: keelDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH },
    cwd: ROOT,
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

describe('keel trace on the embedded database', () => {
  it('prints a run as a tree, and with --json the endpoint’s shape', async () => {
    const keelDir = join(root, 'embedded');
    const ran = await cliIn(keelDir, [
      'run',
      'travel-planner',
      '3 days in Lisbon in May',
      '--config',
      TRAVEL,
      '--json',
    ]);
    expect(ran.code, ran.stderr).toBe(0);
    const runId = (JSON.parse(ran.stdout) as { id: string }).id;

    const json = await cliIn(keelDir, ['trace', runId, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const trace = traceResponse.parse(JSON.parse(json.stdout));
    expect(trace).toMatchObject({
      trace_id: runId,
      agent: 'travel-planner',
      status: 'completed',
      outcome: 'speculative',
      attempts: 1,
    });
    // The research turn asks for weather and places at once: two tools under one model step.
    const children = (seq: number) => trace.steps.filter((step) => step.parent_seq === seq);
    const llms = trace.steps.filter((step) => step.type === 'llm');
    expect(llms.every((step) => step.parent_seq === null)).toBe(true);
    expect(trace.steps.filter((step) => step.type === 'tool').every((step) => step.parent_seq !== null)).toBe(
      true,
    );
    expect(Math.max(...llms.map((step) => children(step.seq).length))).toBeGreaterThanOrEqual(2);

    const tree = await cliIn(keelDir, ['trace', runId]);
    expect(tree.code).toBe(0);
    expect(tree.stdout).toContain(`trace     ${runId}`);
    expect(tree.stdout).toContain('outcome speculative');
    // The planner's input guard (prompt injection) checks the request first.
    expect(tree.stdout).toMatch(/^├─ ✓ #0 guard \S+ +\d+ ms {2}input: allow/m);
    expect(tree.stdout).toMatch(/^├─ ✓ #1 llm /m);
    expect(tree.stdout).toMatch(/^│ {2}[├└]─ ✓ #\d+ tool weather/m);
    expect(tree.stdout).toMatch(/^└─ ✓ #\d+ llm /m);

    const missing = await cliIn(keelDir, ['trace', 'run_doesnotexist']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('[run_not_found]');
    const usage = await cliIn(keelDir, ['trace']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('keel trace <run-id>');
  }, 180_000);
});

describe('keel trace through the local server that owns the database', () => {
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

  it('prints what GET /v1/runs/{id}/trace answers', async () => {
    const { run } = await app.store.createRun({
      tenantId: 'tenant-a',
      agent: 'echo',
      input: 'x',
      userId: 'ada',
    });
    const lease = await app.claim(run.id);
    await app.store.startStep(lease, {
      seq: 0,
      parentSeq: null,
      kind: 'model',
      name: 'builtin:echo',
      inputHash: 'h',
      attempt: 1,
      startedAt: new Date('2030-01-01T00:00:00.000Z'),
      meta: { provider: 'builtin', model: 'echo', tools: [] },
    });
    const keelDir = join(root, 'remote');
    mkdirSync(keelDir, { recursive: true });
    const pid = owner.pid as number;
    writeFileSync(
      join(keelDir, 'lock'),
      JSON.stringify({ pid, startTime: processStartTime(pid), url: app.url }),
    );
    writeFileSync(join(keelDir, 'admin-key'), `${app.keys.admin}\n`);

    const printed = await cliIn(keelDir, ['trace', run.id, '--json']);
    expect(printed.code, printed.stderr).toBe(0);
    const served = (await (await app.call(`/v1/runs/${run.id}/trace`)).json()) as { duration_ms: number };
    const trace = traceResponse.parse(JSON.parse(printed.stdout));
    // A running run's duration grows between the two reads; the rest is the same answer.
    expect({ ...trace, duration_ms: 0 }).toEqual({ ...served, duration_ms: 0 });
    expect(trace).toMatchObject({
      status: 'running',
      user_id: 'ada',
      steps: [{ seq: 0, type: 'llm', ok: null }],
    });

    const tree = await cliIn(keelDir, ['trace', run.id]);
    expect(tree.stdout).toMatch(/^└─ … #0 llm echo {2}running$/m);
    const other = await app.store.createRun({ tenantId: 'tenant-b', agent: 'echo', input: 'x' });
    const hidden = await cliIn(keelDir, ['trace', other.run.id]);
    expect(hidden.code).toBe(2);
    expect(hidden.stderr).toContain('[run_not_found]');
  }, 60_000);
});
