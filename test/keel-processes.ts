/**
 * Real `keel` processes for multi-process tests: spawned from bin/keel.js (dist/, as deployed)
 * with a config file, their JSON log lines parsed, and every one of them tracked so a test's
 * afterAll kills what is left, also when the test failed or timed out. Each test gets a database
 * of its own (Keel processes use the default `keel` schema), dropped at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestSchemaName } from '../src/testing/postgres.js';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
const KEEL_BIN = fileURLToPath(new URL('../bin/keel.js', import.meta.url));
const DIST_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** Fails clearly when the package was not built: the processes run dist/, not the sources. */
export function assertBuilt(): void {
  if (!existsSync(DIST_INDEX))
    throw new Error(`${DIST_INDEX} is missing: run \`npx tsc -p tsconfig.build.json\` first.`);
}

/** A running (or exited) keel process. */
export interface KeelProcess {
  child: ChildProcess;
  /** Keel's JSON log lines (stderr), parsed; other stderr text as `{ msg: text }`. */
  lines: { msg: string; [field: string]: unknown }[];
  /** Everything written to stdout. */
  stdout(): string;
  /** The last 200 kB of stderr, for failure messages. */
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** Starts and tracks keel processes; `killAll` ends whatever is still running. */
export function createKeelProcesses() {
  const live = new Set<ChildProcess>();

  function spawnKeel(args: string[], env: Record<string, string>): KeelProcess {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, KEEL_LOG_LEVEL: 'info', ...env };
    delete childEnv.NODE_OPTIONS; // vitest's loader flags have no business in the child
    const child = spawn(process.execPath, [KEEL_BIN, ...args], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        live.delete(child);
        resolve(code);
      }),
    );
    const lines: KeelProcess['lines'] = [];
    let buffer = '';
    let errors = '';
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      errors = (errors + chunk).slice(-200_000);
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line === '') continue;
        try {
          lines.push(JSON.parse(line) as { msg: string });
        } catch {
          lines.push({ msg: line });
        }
      }
    });
    return { child, lines, stdout: () => output, stderr: () => errors, exited };
  }

  /** Runs a short command (`keel tools disable ...`) to its end; fails with its output unless it exits 0. */
  async function runKeel(args: string[], env: Record<string, string>): Promise<KeelProcess> {
    const command = spawnKeel(args, env);
    const code = await command.exited;
    if (code !== 0)
      throw new Error(`keel ${args.join(' ')} exited ${code}:\n${command.stdout()}\n${command.stderr()}`);
    return command;
  }

  /** Starts `keel worker` and waits for its `worker started` line (fails if it exits first). */
  async function startWorker(args: string[], env: Record<string, string>): Promise<KeelProcess> {
    const worker = spawnKeel(['worker', ...args], env);
    await waitFor(
      'keel worker started',
      () => worker.lines.some((line) => line.msg === 'worker started') || worker.child.exitCode !== null,
      Boolean,
      30_000,
    );
    if (worker.child.exitCode !== null)
      throw new Error(`keel worker exited ${worker.child.exitCode}:\n${worker.stderr()}`);
    return worker;
  }

  /** SIGTERM (a worker drains), then SIGKILL what is still running after `graceMs`. */
  async function killAll(graceMs = 5_000): Promise<void> {
    const running = [...live];
    await Promise.all(
      running.map(async (child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
    for (const child of live) child.kill('SIGKILL');
  }

  return { spawnKeel, runKeel, startWorker, killAll };
}

/** Polls `read` until `done` holds; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 45_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached in ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await sleep(intervalMs);
  }
}

/** A fresh database on the server of `connectionString`; `drop()` removes it (forcing sessions out). */
export async function createTestDatabase(
  connectionString: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = createTestSchemaName();
  const admin = new pg.Client({ connectionString });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(connectionString);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = new pg.Client({ connectionString });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
