import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../util/logger.js';
import { holderState, processStartTime } from '../util/process-identity.js';
import { acquireEmbeddedLock, advertiseServer, readEmbeddedOwner } from './embedded-lock.js';

let root: string;
/** A live process unrelated to any lock (as a reused PID would be). */
let unrelated: ChildProcess;
let unrelatedPid: number;
let unrelatedStart: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keel-lock-'));
  unrelated = spawn('sleep', ['120'], { stdio: 'ignore' });
  unrelatedPid = unrelated.pid as number;
  unrelatedStart = processStartTime(unrelatedPid) as string;
});
afterAll(() => {
  unrelated.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function logLines() {
  const lines: string[] = [];
  return { lines, logger: createJsonLogger({ level: 'info', write: (line) => lines.push(line) }) };
}

let folders = 0;
const freshFolder = () => join(root, `keel-${++folders}`);

describe('process identity', () => {
  it("reads a process's start time, stable for its life, and tells a reused PID from its owner", () => {
    expect(unrelatedStart).toMatch(/\S/);
    expect(processStartTime(unrelatedPid)).toBe(unrelatedStart);
    expect(processStartTime(process.pid)).not.toBe(unrelatedStart);
    expect(holderState({ pid: unrelatedPid, startTime: unrelatedStart })).toBe('alive');
    expect(holderState({ pid: unrelatedPid, startTime: `${unrelatedStart}0` })).toBe('pid-reused');
    // A lock written before start times were recorded: the PID alone decides.
    expect(holderState({ pid: unrelatedPid })).toBe('alive');
    const exited = spawnSync(process.execPath, ['-e', '0']);
    expect(holderState({ pid: exited.pid, startTime: '1' })).toBe('dead');
    expect(processStartTime(exited.pid)).toBeUndefined();
  });
});

describe('the embedded lock', () => {
  it('refuses while its owner (same PID, same start time) lives', () => {
    const keelDir = freshFolder();
    acquireEmbeddedLock(keelDir);
    writeFileSync(join(keelDir, 'lock'), JSON.stringify({ pid: unrelatedPid, startTime: unrelatedStart }));
    expect(readEmbeddedOwner(keelDir)).toEqual({ pid: unrelatedPid, startTime: unrelatedStart });
    expect(() => acquireEmbeddedLock(keelDir)).toThrow(
      expect.objectContaining({ code: 'store_locked', details: { pid: unrelatedPid } }),
    );
  });

  it('takes over a lock whose PID now belongs to another process, with one log line', () => {
    const keelDir = freshFolder();
    acquireEmbeddedLock(keelDir);
    writeFileSync(
      join(keelDir, 'lock'),
      JSON.stringify({ pid: unrelatedPid, startTime: '12345', url: 'http://127.0.0.1:9' }),
    );
    // Not an owner: commands neither go through its URL nor wait for it.
    expect(readEmbeddedOwner(keelDir)).toBeUndefined();
    const { lines, logger } = logLines();
    const release = acquireEmbeddedLock(keelDir, { logger });
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
      expect.objectContaining({
        level: 'warn',
        msg: 'taking over a stale embedded database lock',
        pid: unrelatedPid,
        reason: 'its PID now belongs to another process',
      }),
    ]);
    expect(JSON.parse(readFileSync(join(keelDir, 'lock'), 'utf8'))).toEqual({
      pid: process.pid,
      startTime: processStartTime(process.pid),
    });
    release();
    expect(() => readFileSync(join(keelDir, 'lock'))).toThrow(/ENOENT/);
  });

  it("takes over a dead process's lock, with one log line", () => {
    const keelDir = freshFolder();
    acquireEmbeddedLock(keelDir)();
    const exited = spawnSync(process.execPath, ['-e', '0']);
    writeFileSync(join(keelDir, 'lock'), JSON.stringify({ pid: exited.pid, startTime: '1' }));
    const { lines, logger } = logLines();
    acquireEmbeddedLock(keelDir, { logger })();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ reason: 'its process is gone', pid: exited.pid });
  });

  it('creates the folder 0700 and the lock 0600 under a permissive umask, and advertises wildcard servers at loopback', () => {
    const previous = process.umask(0o000);
    try {
      const keelDir = join(freshFolder(), '.keel');
      acquireEmbeddedLock(keelDir);
      expect(statSync(keelDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(keelDir, 'lock')).mode & 0o777).toBe(0o600);
      advertiseServer(keelDir, 'http://0.0.0.0:4000');
      expect(statSync(join(keelDir, 'lock')).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(join(keelDir, 'lock'), 'utf8'))).toMatchObject({
        pid: process.pid,
        url: 'http://127.0.0.1:4000',
      });
      advertiseServer(keelDir, 'http://[::]:4000');
      expect(JSON.parse(readFileSync(join(keelDir, 'lock'), 'utf8'))).toMatchObject({
        url: 'http://[::1]:4000',
      });
    } finally {
      process.umask(previous);
    }
  });
});
