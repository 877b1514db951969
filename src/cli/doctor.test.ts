/**
 * `keel doctor`, and the start-up refusal of agents whose models cannot be used, as real
 * processes through bin/keel.js (the build in dist/).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorCheck } from './commands/doctor.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/keel.js');
const ECHO_CONFIG = join(import.meta.dirname, '__fixtures__/echo.config.ts');

let root: string;
let typoConfig: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keel-doctor-'));
  typoConfig = join(root, 'typo.config.ts');
  writeFileSync(
    typoConfig,
    `import { defineAgent } from 'keel';\n` +
      `export default { agents: [\n` +
      `  defineAgent({ name: 'ok', instructions: 'Hi.', model: 'builtin:echo' }),\n` +
      `  defineAgent({ name: 'typo', instructions: 'Hi.', model: 'opneai:gpt-4o-mini' }),\n` +
      `  defineAgent({ name: 'capped', instructions: 'Hi.', model: 'openai:my-finetune', limits: { maxCostUsd: 1 } }),\n` +
      `] };\n`,
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KEEL_LOG_LEVEL: 'error', ...extra };
  for (const name of ['DATABASE_URL', 'PORT', 'KEEL_CONFIG', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'])
    if (!(name in extra)) delete env[name];
  return env;
}

function keel(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd = root,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // A serve or worker that does not refuse to start is killed, not left holding a port or a lock.
  const child = spawn(process.execPath, [BIN, ...args], {
    env,
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done) => child.on('exit', (code) => done({ code, stdout, stderr })));
}

describe('an agent whose model cannot be used', () => {
  for (const command of ['serve', 'worker']) {
    it(`stops keel ${command} at start with exit 3, naming each agent and field`, async () => {
      const dataDir = join(root, `data-${command}`);
      const { code, stderr } = await keel(
        [command, '--config', typoConfig, ...(command === 'serve' ? ['--port', '0'] : [])],
        baseEnv({ KEEL_DATA_DIR: dataDir, OPENAI_API_KEY: 'sk-test' }),
      );
      expect(code).toBe(3);
      expect(stderr).toContain('2 agent models cannot be used');
      expect(stderr).toMatch(/agent "typo" model: .*unknown provider "opneai"/);
      expect(stderr).toMatch(/agent "capped" limits\.maxCostUsd: .*no price for openai:my-finetune/);
      expect(stderr).toContain('[config_invalid]');
    });
  }
});

describe('keel doctor', () => {
  let busy: Server;
  let busyPort: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
    busyPort = (busy.address() as { port: number }).port;
  });
  afterAll(() => new Promise((done) => busy.close(done)));

  it('reports every check as JSON and exits 0 when nothing fails', async () => {
    const cwd = join(root, 'healthy');
    mkdirSync(cwd);
    // Create and migrate the embedded database first, so each check has something to say.
    expect((await keel(['migrate', '--config', ECHO_CONFIG], baseEnv(), cwd)).code).toBe(0);
    const { code, stdout } = await keel(
      ['doctor', '--json', '--config', ECHO_CONFIG, '--port', '0'],
      baseEnv(),
      cwd,
    );
    const report = JSON.parse(stdout) as { ok: boolean; checks: DoctorCheck[] };
    expect(report.ok).toBe(true);
    expect(code).toBe(0);
    const byName = Object.fromEntries(report.checks.map((check) => [check.name, check]));
    expect(Object.keys(byName)).toEqual([
      'node',
      'config',
      'model:echo',
      'lock',
      'database',
      'migrations',
      'port',
    ]);
    expect(byName.node!.message).toMatch(/satisfies engines\.node >=/);
    expect(byName['model:echo']).toEqual({ name: 'model:echo', status: 'ok', message: 'builtin:echo' });
    expect(byName.lock!.message).toContain('no process holds it');
    expect(byName.database).toMatchObject({
      status: 'ok',
      message: expect.stringMatching(/^embedded .*: reachable$/),
    });
    expect(byName.migrations).toMatchObject({
      status: 'ok',
      message: expect.stringMatching(/applied of \d+ known: up to date/),
    });
  });

  it('fails (exit 1) on a bad model, a missing key and a port in use, and says so in text', async () => {
    const cwd = join(root, 'broken');
    mkdirSync(cwd);
    const { code, stdout } = await keel(
      ['doctor', '--config', typoConfig, '--port', String(busyPort)],
      baseEnv({ KEEL_DATA_DIR: join(cwd, 'fresh') }),
      cwd,
    );
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ok {4}node/m);
    expect(stdout).toMatch(/^ok {4}model:ok +builtin:echo$/m);
    expect(stdout).toMatch(/^fail {2}model:typo +opneai:gpt-4o-mini: model: .*unknown provider/m);
    // No OPENAI_API_KEY here: the key is reported before the price.
    expect(stdout).toMatch(/^fail {2}model:capped +openai:my-finetune: model: .*OPENAI_API_KEY/m);
    expect(stdout).toMatch(/^warn {2}database +embedded .*not created yet/m);
    expect(stdout).toMatch(
      new RegExp(`^fail {2}port +127\\.0\\.0\\.1:${busyPort} is in use by another program$`, 'm'),
    );
    expect(stdout).toContain('Some checks failed.');
  });

  it('fails on a config that does not load, and on Postgres that cannot be reached, naming it without its password', async () => {
    const { code, stdout } = await keel(
      ['doctor', '--json', '--config', join(root, 'missing.config.ts'), '--port', '0'],
      baseEnv({ DATABASE_URL: 'postgres://keel:secret@127.0.0.1:1/keel' }),
    );
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { ok: boolean; checks: DoctorCheck[] };
    expect(report.checks.find((check) => check.name === 'config')).toMatchObject({
      status: 'fail',
      message: expect.stringContaining('[config_not_found]'),
    });
    const database = report.checks.find((check) => check.name === 'database');
    expect(database).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(/^postgres postgres:\/\/\*\*\*@127\.0\.0\.1:1\/keel: /),
    });
    expect(stdout).not.toContain('secret');
    expect(report.checks.some((check) => check.name === 'lock')).toBe(false);
  });

  it('refuses arguments and flags it does not take (exit 2)', async () => {
    expect((await keel(['doctor', 'extra'], baseEnv())).code).toBe(2);
    const { code, stderr } = await keel(['doctor', '--workers', '2'], baseEnv());
    expect(code).toBe(2);
    expect(stderr).toContain('keel doctor does not take --workers');
  });
});
