import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePostgres } from '../../testing/postgres.js';
import { runCli } from '../__fixtures__/run-cli.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const PAYER = join(import.meta.dirname, '../__fixtures__/payer.config.ts');

/**
 * With Postgres, `keel run` (a real process, from dist/) waits on an approval, since other
 * processes share the database: it prints the approval and the command, `keel approvals approve`
 * decides it from "another terminal", and the same `keel run` finishes the run.
 */
describePostgres('keel run and keel approvals on Postgres', (serverUrl) => {
  const database = `keel_t_${randomBytes(6).toString('hex')}`;
  let databaseUrl: string;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${database}`);
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
  });
  afterAll(() => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

  it('keel run shows the approval, waits, and completes once keel approvals approve decides it', async () => {
    const env = { DATABASE_URL: databaseUrl, USER: 'ada', KEEL_LOG_LEVEL: 'error' };
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin/keel.js'), 'run', 'payer', 'pay the rent', '--config', PAYER],
      { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    try {
      const approvalId = await new Promise<string>((found, failed) => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const id = /keel approvals approve (\S+)/.exec(stderr)?.[1];
          if (id !== undefined) found(id);
        });
        void exited.then((code) => failed(new Error(`keel run exited ${code}: ${stderr}`)));
      });
      expect(stderr).toContain('approval needed: transfer {"amount":500}');
      const approved = await runCli(['approvals', 'approve', approvalId], {
        dataDir: join(ROOT, '.keel-unused'),
        cwd: ROOT,
        env,
      });
      expect(approved).toMatchObject({ code: 0, stderr: '' });
      // Queued again, or already taken by the keel run waiting on it (woken by the decision).
      expect(approved.stdout).toMatch(/^Approved .* (is queued again|is running again)/s);
      expect(await exited).toBe(0);
      expect(stdout).toBe('tool said: {"done":500}\n');
      expect(stderr).toContain('waiting for the decision');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
