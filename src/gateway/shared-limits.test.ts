import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER = join(ROOT, 'src/gateway/__fixtures__/reserve-worker.ts');

interface Worker {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with each line the worker prints, in order. */
  nextLine(): Promise<string>;
  exited: Promise<number | null>;
}

function startWorker(env: NodeJS.ProcessEnv): Worker {
  const child = spawn(process.execPath, ['--import', 'jiti/register', WORKER], { cwd: ROOT, env });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    let newline: number;
    while ((newline = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, newline);
      stdout = stdout.slice(newline + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const line = lines.shift();
      if (line !== undefined) return resolve(line);
      waiting.push(resolve);
      void exited.then((code) => reject(new Error(`worker exited (${code}) before answering: ${stderr}`)));
    });
  return { child, nextLine, exited };
}

/**
 * Limits are shared, not per process: two OS processes, each with its own pool, fire 100
 * concurrent reserves each against one Postgres; together they get exactly the limit.
 */
describePostgres('Rate limits shared by separate processes', (connectionString) => {
  let client: SqlClient;
  let schema: string;

  beforeAll(async () => {
    client = createPgClient({ connectionString, max: 2 });
    schema = createTestSchemaName();
    await migrate(client, { schema });
  });
  afterAll(async () => {
    await client?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client?.close();
  });

  it('admits exactly rpm across two processes racing 100 reserves each', async () => {
    const env = {
      ...process.env,
      KEEL_FIXTURE_DATABASE_URL: connectionString,
      KEEL_FIXTURE_SCHEMA: schema,
      KEEL_FIXTURE_REQUESTS: '100',
      KEEL_FIXTURE_RPM: '60',
      KEEL_FIXTURE_TPM: '1000000',
      KEEL_FIXTURE_NOW: String(Date.UTC(2030, 0, 1, 0, 0, 10)),
    };
    const workers = [startWorker(env), startWorker(env)];
    try {
      expect(await Promise.all(workers.map((worker) => worker.nextLine()))).toEqual(['ready', 'ready']);
      for (const worker of workers) worker.child.stdin.end('go\n');
      const results = (await Promise.all(workers.map((worker) => worker.nextLine()))).map(
        (line) => JSON.parse(line) as { admitted: number; refused: number },
      );
      expect(await Promise.all(workers.map((worker) => worker.exited))).toEqual([0, 0]);
      expect(results.reduce((total, result) => total + result.admitted, 0)).toBe(60);
      expect(results.reduce((total, result) => total + result.refused, 0)).toBe(140);
      const counters = await client.query<{ scope: string; requests: number; tokens: number }>(
        `SELECT scope, requests, tokens FROM ${schema}.rate_windows ORDER BY scope`,
      );
      expect(counters.rows).toEqual([
        { scope: 'deployment:shared', requests: 60, tokens: 600 },
        { scope: 'key:shared', requests: 60, tokens: 600 },
      ]);
    } finally {
      for (const worker of workers) worker.child.kill('SIGKILL');
    }
  }, 60_000);
});
