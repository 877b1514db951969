import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../util/logger.js';
import { processStartTime } from '../util/process-identity.js';
import { createPgliteClient } from './pglite-client.js';

describe('PGlite client on a data directory', () => {
  const root = mkdtempSync(join(tmpdir(), 'keel-pglite-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('persists data, refuses a second opener while in use, and takes over a dead process’s lock', async () => {
    const dataDir = join(root, 'data');
    const client = await createPgliteClient({ dataDir });
    try {
      await client.exec('CREATE TABLE notes (body text); INSERT INTO notes VALUES ($$kept$$);');
      const error: unknown = await createPgliteClient({ dataDir }).catch((thrown: unknown) => thrown);
      expect(error).toMatchObject({ code: 'data_dir_in_use', details: { pid: process.pid } });
      expect((error as Error).message).toContain('DATABASE_URL');
    } finally {
      await client.close();
    }
    expect(existsSync(`${dataDir}.lock`)).toBe(false);

    // A crashed process leaves its lock behind; its pid is no longer alive.
    const exited = spawnSync(process.execPath, ['-e', '0']);
    writeFileSync(`${dataDir}.lock`, JSON.stringify({ pid: exited.pid, hostname: hostname() }));
    const reopened = await createPgliteClient({ dataDir });
    try {
      expect((await reopened.query<{ body: string }>('SELECT body FROM notes')).rows).toEqual([
        { body: 'kept' },
      ]);
    } finally {
      await reopened.close();
    }
  });

  it('takes over a lock whose PID now belongs to another process, with one log line', async () => {
    const dataDir = join(root, 'reused');
    // A live process unrelated to the lock: it has the PID the lock names, not its start time.
    const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = unrelated.pid as number;
      const startTime = processStartTime(pid);
      expect(startTime).toBeDefined();
      const lines: string[] = [];
      const logger = createJsonLogger({ level: 'info', write: (line) => lines.push(line) });

      // Its real start time: that process holds the directory.
      writeFileSync(`${dataDir}.lock`, JSON.stringify({ pid, hostname: hostname(), startTime }));
      const refused: unknown = await createPgliteClient({ dataDir, logger }).catch(
        (thrown: unknown) => thrown,
      );
      expect(refused).toMatchObject({ code: 'data_dir_in_use', details: { pid } });
      expect(lines).toEqual([]);

      // Another start time: the PID was reused after the owner died.
      writeFileSync(`${dataDir}.lock`, JSON.stringify({ pid, hostname: hostname(), startTime: '1' }));
      const client = await createPgliteClient({ dataDir, logger });
      try {
        await client.query('SELECT 1');
        expect(lines).toHaveLength(1);
        expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
          level: 'warn',
          msg: 'taking over a stale PGlite data directory lock',
          pid,
          reason: 'its PID now belongs to another process',
        });
        const written = JSON.parse(readFileSync(`${dataDir}.lock`, 'utf8')) as Record<string, unknown>;
        expect(written).toEqual({
          pid: process.pid,
          hostname: hostname(),
          startTime: processStartTime(process.pid),
        });
      } finally {
        await client.close();
      }
    } finally {
      unrelated.kill('SIGKILL');
    }
  });

  it('creates the data directory 0700 and its lock 0600 under a permissive umask', async () => {
    const previous = process.umask(0o000);
    try {
      const dataDir = join(root, 'private', 'data');
      const client = await createPgliteClient({ dataDir });
      try {
        expect(statSync(join(root, 'private')).mode & 0o777).toBe(0o700);
        expect(statSync(dataDir).mode & 0o777).toBe(0o700);
        expect(statSync(`${dataDir}.lock`).mode & 0o777).toBe(0o600);
      } finally {
        await client.close();
      }
    } finally {
      process.umask(previous);
    }
  });
});
