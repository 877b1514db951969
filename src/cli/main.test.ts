import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load-config.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { main } from './main.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TRAVEL = join(ROOT, 'examples/travel-planner/keel.config.ts');
const FIXTURES = join(import.meta.dirname, '__fixtures__');

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** Runs the CLI in-process with captured output and an isolated embedded database. */
async function cli(args: string[], env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-'));
  directories.push(dataDir);
  return cliIn(dataDir, args, env);
}

async function cliIn(dataDir: string, args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { KEEL_DATA_DIR: dataDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH, ...env },
    cwd: ROOT,
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

describe('keel CLI', () => {
  it('runs the travel planner offline and prints the plan, exit 0', async () => {
    const { code, stdout, stderr } = await cli([
      'run',
      'travel-planner',
      '3 days in Lisbon in May',
      '--config',
      TRAVEL,
    ]);
    expect(stderr).toMatch(/completed · \d+ steps · \d+ tokens .* \$0\.000000 · run_/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Day 1/);
    expect(stdout).toMatch(/Day 3/);
    expect(stdout).not.toMatch(/Day 4/);
  });

  it('prints a machine-readable result with --json, and shows and lists the run', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-'));
    directories.push(dataDir);
    const ran = await cliIn(dataDir, [
      'run',
      'echo',
      'hello there',
      '--config',
      join(FIXTURES, 'echo.config.ts'),
      '--json',
    ]);
    expect(ran.code).toBe(0);
    const run = JSON.parse(ran.stdout) as { id: string; stop_reason: string; output: string };
    expect(run.stop_reason).toBe('completed');
    expect(run.output).toContain('hello there');

    const shown = await cliIn(dataDir, ['show', run.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(run.id);
    expect(shown.stdout).toMatch(/model builtin:echo/);

    const listed = await cliIn(dataDir, ['runs', '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>).map((entry) => entry.id)).toContain(run.id);
  });

  it('records --user, --trigger (default cli) and the prompt version, and lists by them', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-'));
    directories.push(dataDir);
    const config = ['--config', join(FIXTURES, 'echo.config.ts')];
    const runJson = async (args: string[]) => {
      const ran = await cliIn(dataDir, ['run', 'echo', ...args, '--json', ...config]);
      expect(ran.code).toBe(0);
      return JSON.parse(ran.stdout) as {
        id: string;
        user_id: string | null;
        trigger: string;
        prompt_version: string;
      };
    };
    const named = await runJson(['for ada', '--user', 'ada', '--trigger', 'eval']);
    const plain = await runJson(['for nobody']);
    const detached = await runJson(['later', '--detach', '--user', 'ada']);
    expect(named).toMatchObject({ user_id: 'ada', trigger: 'eval', created_by: null });
    expect(plain).toMatchObject({ user_id: null, trigger: 'cli' });
    const loaded = await loadConfig({ path: join(FIXTURES, 'echo.config.ts'), cwd: ROOT, env: {} });
    const version = promptVersionOf(loaded.agents.get('echo')!);
    for (const run of [named, plain]) expect(run.prompt_version).toBe(version);
    // --detach prints the id only: the listing shows what the queued run recorded.
    const queued = await cliIn(dataDir, ['runs', '--status', 'queued', '--json']);
    expect(JSON.parse(queued.stdout)).toMatchObject([
      { id: detached.id, user_id: 'ada', trigger: 'cli', prompt_version: version },
    ]);

    const ids = async (args: string[]) => {
      const listed = await cliIn(dataDir, ['runs', ...args, '--json']);
      expect(listed.code).toBe(0);
      return (JSON.parse(listed.stdout) as Array<{ id: string }>).map((run) => run.id);
    };
    expect(await ids(['--user', 'ada'])).toEqual([detached.id, named.id]);
    expect(await ids(['--user', 'ada', '--trigger', 'eval'])).toEqual([named.id]);
    expect(await ids(['--trigger', 'cli'])).toEqual([detached.id, plain.id]);
    expect((await cliIn(dataDir, ['runs', '--user', 'u'.repeat(201)])).code).toBe(2);
    const badTrigger = await cliIn(dataDir, ['run', 'echo', 'x', '--trigger', 't'.repeat(65), ...config]);
    expect(badTrigger.code).toBe(2);
    expect(badTrigger.stderr).toContain('--trigger');
    // Eight commands, each opening the embedded database (about 3 s apiece on a busy machine).
  }, 120_000);

  it('prunes: counts with --dry-run, deletes without, and keeps what is recent', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-'));
    directories.push(dataDir);
    const ran = await cliIn(dataDir, [
      'run',
      'travel-planner',
      'a weekend in Oslo in May',
      '--json',
      '--config',
      TRAVEL,
    ]);
    expect(ran.code).toBe(0);
    const dry = await cliIn(dataDir, ['prune', '--older-than', '1m', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true, runs: 0, gateway_calls: 0 });
    const pruned = await cliIn(dataDir, ['prune', '--older-than', '1d']);
    expect(pruned).toMatchObject({ code: 0 });
    expect(pruned.stdout).toMatch(/^Deleted 0 run\(s\) ended before /);
    expect((await cliIn(dataDir, ['runs', '--json'])).stdout).toContain('a weekend in Oslo');
  });

  it('--detach enqueues and prints the run id; a worker would pick it up', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-'));
    directories.push(dataDir);
    const { code, stdout } = await cliIn(dataDir, [
      'run',
      'echo',
      'later',
      '--detach',
      '--config',
      join(FIXTURES, 'echo.config.ts'),
    ]);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^run_[0-9a-z]+$/);
    const listed = await cliIn(dataDir, ['runs', '--status', 'queued', '--json']);
    expect((JSON.parse(listed.stdout) as Array<{ id: string }>)[0]?.id).toBe(stdout.trim());
  });

  it('answers bad input with stable codes and exit codes', async () => {
    const unknownAgent = await cli(['run', 'nobody', 'hi', '--config', TRAVEL]);
    expect(unknownAgent.code).toBe(2);
    expect(unknownAgent.stderr).toMatch(/Unknown agent "nobody".*travel-planner.*\[unknown_agent\]/);

    const missingInput = await cli(['run', 'travel-planner', '--config', TRAVEL]);
    expect(missingInput.code).toBe(2);

    const badFlag = await cli(['runs', '--bogus']);
    expect(badFlag.code).toBe(2);

    const unknownCommand = await cli(['fly']);
    expect(unknownCommand.code).toBe(2);

    const notFound = await cli(['run', 'x', 'y', '--config', join(FIXTURES, 'missing.config.ts')]);
    expect(notFound.code).toBe(3);
    expect(notFound.stderr).toContain('[config_not_found]');

    const broken = await cli(['run', 'x', 'y', '--config', join(FIXTURES, 'broken-syntax.config.ts')]);
    expect(broken.code).toBe(3);
    expect(broken.stderr).toContain('[config_load_failed]');

    const noAgents = await cli(['run', 'x', 'y', '--config', join(FIXTURES, 'no-agents.config.ts')]);
    expect(noAgents.code).toBe(3);
    expect(noAgents.stderr).toContain('[config_invalid]');

    const invalidTool = await cli(['run', 'bad', 'y', '--config', join(FIXTURES, 'invalid-tool.config.ts')]);
    expect(invalidTool.code).toBe(3);
    expect(invalidTool.stderr).toContain('[invalid_tool]');

    const badLimit = await cli(['serve', '--port', '0', '--config', TRAVEL], { KEEL_MAX_BODY_BYTES: 'lots' });
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('KEEL_MAX_BODY_BYTES must be a positive integer');

    expect((await cli(['prune'])).code).toBe(2);
    const badDuration = await cli(['prune', '--older-than', '30 days']);
    expect(badDuration.code).toBe(2);
    expect(badDuration.stderr).toContain('--older-than must be like 30d');

    const showMissing = await cli(['show', 'run_doesnotexist']);
    expect(showMissing.code).toBe(2);
    expect(showMissing.stderr).toContain('[run_not_found]');
  });

  it('exits 4 with database_unavailable when DATABASE_URL does not answer', async () => {
    const { code, stderr } = await cli(['runs'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(code).toBe(4);
    expect(stderr).toContain('[database_unavailable]');
  });

  it('works as a real process through bin/keel.js, and goes through a running server', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-'));
    directories.push(dataDir);
    const env: NodeJS.ProcessEnv = { ...process.env, KEEL_DATA_DIR: dataDir, KEEL_LOG_LEVEL: 'error' };
    delete env.DATABASE_URL;
    const server = spawn(
      process.execPath,
      [join(ROOT, 'bin/keel.js'), 'serve', '--port', '0', '--config', TRAVEL],
      { env, cwd: ROOT },
    );
    try {
      let serverErr = '';
      await new Promise<void>((ready, fail) => {
        server.stderr.on('data', (chunk: Buffer) => {
          serverErr += chunk.toString();
          if (serverErr.includes('Keel is serving')) ready();
        });
        server.on('exit', (exitCode) => fail(new Error(`server exited ${exitCode}: ${serverErr}`)));
      });
      // The embedded database belongs to the server: this process must go through its API.
      const child = spawn(
        process.execPath,
        [join(ROOT, 'bin/keel.js'), 'run', 'travel-planner', 'a weekend in Paris in March', '--json'],
        {
          env,
          cwd: ROOT,
        },
      );
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const exitCode = await new Promise<number | null>((done) => child.on('exit', done));
      expect(exitCode).toBe(0);
      const run = JSON.parse(out) as { stop_reason: string; output: string };
      expect(run.stop_reason).toBe('completed');
      expect(run.output).toMatch(/Paris/);

      // Keys too go through the server (the local admin key may manage every tenant's keys).
      const created = await cliIn(dataDir, [
        'keys',
        'create',
        '--tenant',
        'acme',
        '--scopes',
        'runs:read',
        '--json',
      ]);
      expect(created.code).toBe(0);
      const key = JSON.parse(created.stdout) as { id: string; key: string; tenant_id: string };
      expect(key).toMatchObject({ tenant_id: 'acme' });
      const listed = await cliIn(dataDir, ['keys', 'list', '--tenant', 'acme']);
      expect(listed.stdout).toContain(key.id);
      expect(listed.stdout).not.toContain(key.key);
      const revoked = await cliIn(dataDir, ['keys', 'revoke', key.id]);
      expect(revoked).toMatchObject({ code: 0 });
      expect(revoked.stdout).toContain(`Revoked ${key.id}`);
      expect((await cliIn(dataDir, ['keys', 'revoke', 'key_nope'])).code).toBe(2);
    } finally {
      server.kill('SIGTERM');
      await new Promise((done) => server.on('exit', done));
    }
  }, 60_000);
});
