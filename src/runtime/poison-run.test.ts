/**
 * The poison-run cutoff with real processes: a worker whose tool SIGKILLs its own process on
 * every claim. After `maxRunAttempts` (2) claims died, the next claim ends the run
 * `too_many_attempts`; the run is then dead (`keel runs --dead`), and its retry, once the cause
 * is fixed (KEEL_POISON unset), completes with tool idempotency keys of its own.
 * Needs the build (`npx tsc -p tsconfig.build.json`) and Postgres (processes share the database).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../cli/__fixtures__/run-cli.js';
import { openStore } from '../journal/open-store.js';
import { createPgClient } from '../journal/pg-client.js';
import type { JournalStore } from '../journal/store.js';
import type { RunRecord } from '../journal/types.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';

const ROOT = resolve(import.meta.dirname, '../..');
const WORKER = join(import.meta.dirname, '__fixtures__/poison-worker.mjs');

describePostgres('a poison run', (connectionString) => {
  // A database of its own: the CLI and the workers use the default schema of DATABASE_URL.
  const database = createTestSchemaName();
  const url = new URL(connectionString);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-poison-'));
  let store: JournalStore;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    const admin = createPgClient({ connectionString });
    await admin.exec(`CREATE DATABASE ${database}`);
    await admin.close();
    ({ store } = await openStore({ databaseUrl }));
  }, 60_000);
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await store?.close();
    const admin = createPgClient({ connectionString });
    await admin.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Starts a worker process; `exited` resolves with its signal or code and everything it printed. */
  function startWorker(poison: boolean) {
    const child = spawn(process.execPath, [WORKER], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, KEEL_POISON: poison ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ signal: NodeJS.Signals | null; output: string }>((done) =>
      child.once('exit', (_code, signal) => {
        children.delete(child);
        done({ signal, output });
      }),
    );
    return { child, exited, output: () => output };
  }

  /** Reads the run until `done` holds (no time bound of its own: the test's timeout is the bound). */
  async function until(runId: string, done: (run: RunRecord) => boolean): Promise<RunRecord> {
    for (;;) {
      const run = await store.getRun(runId);
      if (run && done(run)) return run;
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }

  const keys = (output: string) => [...output.matchAll(/^key=(.*)$/gm)].map((match) => match[1] ?? '');

  it('ends too_many_attempts after maxRunAttempts deaths, is listed dead, and its retry completes', async () => {
    const { run } = await store.createRun({ agent: 'poison', input: 'go', sessionId: 'poisoned' });

    // Every claim dies in the tool: a real SIGKILL, mid-step.
    const deadKeys: string[] = [];
    for (let claim = 1; claim <= 2; claim++) {
      const worker = startWorker(true);
      const { signal, output } = await worker.exited;
      expect(signal, output).toBe('SIGKILL');
      deadKeys.push(...keys(output));
      expect((await store.getRun(run.id))?.attempts).toBe(claim);
    }
    expect(deadKeys).toEqual([`${run.id}:1`, `${run.id}:1`]);

    // The third claim gives up on the run instead of running it.
    const cutoff = startWorker(true);
    const dead = await until(run.id, (current) => current.status === 'failed');
    cutoff.child.kill('SIGTERM');
    expect((await cutoff.exited).signal).toBeNull();
    expect(keys(cutoff.output())).toEqual([]);
    expect(dead).toMatchObject({ stopReason: 'error', attempts: 3, error: { code: 'too_many_attempts' } });

    const env = { DATABASE_URL: databaseUrl };
    const listed = await runCli(['runs', '--dead', '--json'], { dataDir, cwd: ROOT, env });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([
      { id: run.id, stop_reason: 'error', error: { code: 'too_many_attempts' }, retried_by: null },
    ]);
    const table = await runCli(['runs', '--dead'], { dataDir, cwd: ROOT, env });
    expect(table.stdout).toContain('too_many_attempts');

    // Cause fixed: the retry runs to completion in a healthy worker.
    const retried = await runCli(['runs', 'retry', run.id, '--json'], { dataDir, cwd: ROOT, env });
    expect(retried.code, retried.stderr).toBe(0);
    const retry = JSON.parse(retried.stdout) as { id: string; retry_of: string };
    expect(retry.retry_of).toBe(run.id);
    const healthy = startWorker(false);
    const completed = await until(retry.id, (current) => current.status === 'completed');
    healthy.child.kill('SIGTERM');
    const { output } = await healthy.exited;
    expect(completed).toMatchObject({
      output: 'recovered',
      sessionId: 'poisoned',
      retryOf: run.id,
      attempts: 1,
    });
    // The retry's tool call has its own idempotency key: the dead run's effects are not replayed.
    expect(keys(output)).toEqual([`${retry.id}:1`]);

    const shown = await runCli(['runs', 'show', run.id], { dataDir, cwd: ROOT, env });
    expect(shown.stdout).toContain(`retried   by ${retry.id}`);
    const again = await runCli(['runs', 'retry', run.id, '--json'], { dataDir, cwd: ROOT, env });
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stderr)).toMatchObject({ error: { code: 'run_already_retried' } });
  }, 240_000);
});
