/**
 * How `keel worker` and `keel serve` start, as real processes through bin/keel.js (the build in
 * dist/): a bad flag or setting exits 2 before anything is opened; a stale embedded lock (its
 * PID now another process's) is taken over; `.keel/` is private whatever the umask.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStartTime } from '../util/process-identity.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/keel.js');
const CONFIG = join(import.meta.dirname, '__fixtures__/echo.config.ts');

let root: string;
/** A database that accepts connections and never answers: opening it would hang, not fail. */
let silentDatabase: Server;
let silentUrl: string;
const connections: Socket[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'keel-start-up-'));
  silentDatabase = createServer((socket) => {
    connections.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((done) => silentDatabase.listen(0, '127.0.0.1', done));
  const { port } = silentDatabase.address() as { port: number };
  silentUrl = `postgres://postgres@127.0.0.1:${port}/keel`;
});
afterAll(async () => {
  for (const socket of connections) socket.destroy();
  await new Promise((done) => silentDatabase.close(done));
  rmSync(root, { recursive: true, force: true });
});

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KEEL_LOG_LEVEL: 'error', ...extra };
  for (const name of [
    'DATABASE_URL',
    'PORT',
    'KEEL_CORS_ORIGINS',
    'KEEL_MAX_BODY_BYTES',
    'KEEL_REQUEST_TIMEOUT_MS',
  ])
    if (!(name in extra)) delete env[name];
  return env;
}

/** Runs bin/keel.js to its end. */
function keel(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env,
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((done) => child.on('exit', (code) => done({ code, stderr })));
}

describe('a bad flag or setting', () => {
  const cases: { args: string[]; env?: Record<string, string>; message: string }[] = [
    { args: ['worker', '--concurrency', '0'], message: '--concurrency must be a positive integer, not "0"' },
    { args: ['worker', '--lease-ms', 'soon'], message: '--lease-ms must be a positive integer, not "soon"' },
    { args: ['worker', '--port', '4000'], message: 'keel worker does not take --port' },
    { args: ['worker', '--bogus'], message: "Unknown option '--bogus'" },
    { args: ['worker'], env: { KEEL_LOG_LEVEL: 'verbose' }, message: 'KEEL_LOG_LEVEL must be one of' },
    { args: ['serve', '--workers', 'many'], message: '--workers must be a positive integer, not "many"' },
    { args: ['serve', '--port', '70000'], message: '--port must be 0-65535, not "70000"' },
    { args: ['serve'], env: { PORT: 'http' }, message: 'PORT must be 0-65535, not "http"' },
    { args: ['serve', '--host', 'not a host!'], message: '--host must be an IP address or a host name' },
    { args: ['serve', '--workers', '2', '--no-worker'], message: '--workers and --no-worker contradict' },
    { args: ['serve', '--concurrency', '2'], message: 'keel serve does not take --concurrency' },
    {
      args: ['serve'],
      env: { KEEL_REQUEST_TIMEOUT_MS: 'abc' },
      message: 'KEEL_REQUEST_TIMEOUT_MS must be a positive integer',
    },
    {
      args: ['serve'],
      env: { KEEL_CORS_ORIGINS: 'app.example.com' },
      message: 'KEEL_CORS_ORIGINS must list origins such as https://app.example.com',
    },
  ];

  it('exits 2 with a usage message before the database is opened (Postgres that never answers)', async () => {
    const results = await Promise.all(
      cases.map(({ args, env = {} }) =>
        keel([...args, '--config', CONFIG], baseEnv({ DATABASE_URL: silentUrl, ...env })),
      ),
    );
    results.forEach((result, index) => {
      const { args, message } = cases[index]!;
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.stderr).toContain('[usage]');
    });
    // Nothing was opened: the silent database never saw a connection (opening it would have hung).
    expect(connections).toHaveLength(0);
  });

  it('exits 2 without creating or locking the embedded database', async () => {
    const keelDir = join(root, 'never-created');
    const results = await Promise.all([
      keel(['worker', '--concurrency', 'x', '--config', CONFIG], baseEnv({ KEEL_DATA_DIR: keelDir })),
      keel(['serve', '--port', '-1', '--config', CONFIG], baseEnv({ KEEL_DATA_DIR: keelDir })),
    ]);
    expect(results.map((result) => result.code)).toEqual([2, 2]);
    expect(existsSync(keelDir)).toBe(false);
  });
});

describe('keel serve on a folder a crashed server left behind, under umask 000', () => {
  let unrelated: ChildProcess;
  beforeAll(() => {
    unrelated = spawn('sleep', ['120'], { stdio: 'ignore' });
  });
  afterAll(() => {
    unrelated.kill('SIGKILL');
  });

  it('takes over both locks whose PID is another live process now, with one log line, and keeps .keel/ private', async () => {
    const keelDir = join(root, 'crashed', '.keel');
    mkdirSync(keelDir, { recursive: true });
    // What a killed `keel serve` leaves: its locks, naming a PID that an unrelated process got since.
    const stale = { pid: unrelated.pid as number, startTime: '1' };
    expect(processStartTime(stale.pid)).not.toBe(stale.startTime);
    writeFileSync(join(keelDir, 'lock'), JSON.stringify({ ...stale, url: 'http://127.0.0.1:9' }));
    writeFileSync(join(keelDir, 'data.lock'), JSON.stringify({ ...stale, hostname: hostname() }));
    rmSync(join(root, 'fresh'), { recursive: true, force: true });
    const freshDir = join(root, 'fresh', '.keel');

    const started: { keelDir: string; stderr: string }[] = [];
    for (const directory of [keelDir, freshDir]) {
      // A permissive umask, as in many containers: what Keel creates must not follow it.
      const server = spawn(
        'sh',
        [
          '-c',
          'umask 000 && exec "$0" "$@"',
          process.execPath,
          BIN,
          'serve',
          '--port',
          '0',
          '--no-worker',
          '--config',
          CONFIG,
        ],
        {
          env: baseEnv({ KEEL_DATA_DIR: directory, KEEL_LOG_LEVEL: 'warn' }),
          cwd: root,
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let stderr = '';
      try {
        await new Promise<void>((ready, fail) => {
          server.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString();
            if (stderr.includes('Keel is serving')) ready();
          });
          server.on('exit', (code) => fail(new Error(`keel serve exited ${code}: ${stderr}`)));
        });
        for (const [path, mode] of [
          [directory, 0o700],
          [join(directory, 'data'), 0o700],
          [join(directory, 'lock'), 0o600],
          [join(directory, 'data.lock'), 0o600],
          [join(directory, 'admin-key'), 0o600],
        ] as const)
          expect((statSync(path).mode & 0o777).toString(8), path).toBe(mode.toString(8));
      } finally {
        server.kill('SIGTERM');
        await new Promise((done) => server.on('exit', done));
      }
      started.push({ keelDir: directory, stderr });
    }
    const takeovers = (stderr: string) =>
      stderr.split('\n').filter((line) => line.includes('taking over a stale'));
    expect(takeovers(started[0]!.stderr)).toHaveLength(1);
    expect(JSON.parse(takeovers(started[0]!.stderr)[0]!)).toMatchObject({
      level: 'warn',
      msg: 'taking over a stale embedded database lock',
      pid: stale.pid,
      reason: 'its PID now belongs to another process',
    });
    expect(takeovers(started[1]!.stderr)).toEqual([]);
  }, 120_000);
});
