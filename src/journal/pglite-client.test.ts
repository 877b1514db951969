import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
});
