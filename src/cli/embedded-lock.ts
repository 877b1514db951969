import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeelError } from '../errors/keel-error.js';

/**
 * PGlite is a single-process database: two processes writing one data directory would corrupt
 * it. The process that opens it holds `<dir>/lock` (its pid); a `keel serve` also writes
 * `<dir>/server.json` so other commands can go through its HTTP API instead.
 */
export interface EmbeddedOwner {
  pid: number;
  /** Base URL of the owner's HTTP API, when the owner is a server. */
  url?: string;
}

/** Who holds the embedded database now, if a live process does. */
export function readEmbeddedOwner(keelDir: string): EmbeddedOwner | undefined {
  let owner: EmbeddedOwner;
  try {
    owner = JSON.parse(readFileSync(join(keelDir, 'lock'), 'utf8')) as EmbeddedOwner;
  } catch {
    return undefined;
  }
  if (typeof owner.pid !== 'number' || owner.pid === process.pid || !isAlive(owner.pid)) return undefined;
  return owner;
}

/** Takes the lock, or throws `store_locked` naming the holder. Returns a release function. */
export function acquireEmbeddedLock(keelDir: string, details: { url?: string } = {}): () => void {
  mkdirSync(keelDir, { recursive: true });
  const holder = readEmbeddedOwner(keelDir);
  if (holder) {
    throw new KeelError({
      code: 'store_locked',
      message:
        `The embedded database in ${keelDir} is in use by process ${holder.pid}. ` +
        `Stop that process, or set DATABASE_URL to a Postgres server to run several processes.`,
      fault: 'caller',
      details: { pid: holder.pid },
    });
  }
  const path = join(keelDir, 'lock');
  writeFileSync(path, JSON.stringify({ pid: process.pid, ...details }));
  return () => {
    try {
      const current = JSON.parse(readFileSync(path, 'utf8')) as EmbeddedOwner;
      if (current.pid === process.pid) rmSync(path, { force: true });
    } catch {
      // already gone
    }
  };
}

/** Records the server URL in the lock so other commands find the server. */
export function advertiseServer(keelDir: string, url: string): void {
  writeFileSync(join(keelDir, 'lock'), JSON.stringify({ pid: process.pid, url }));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
