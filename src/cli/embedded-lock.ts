import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KeelError } from '../errors/keel-error.js';
import type { Logger } from '../util/logger.js';
import { ensurePrivateDirectory, writePrivateFile } from '../util/private-files.js';
import { currentProcessIdentity, holderState, type ProcessIdentity } from '../util/process-identity.js';

/**
 * PGlite is a single-process database: two processes writing one data directory would corrupt
 * it. The process that opens it holds `<dir>/lock` (its pid and start time); a `keel serve` also
 * writes its URL there so other commands can go through its HTTP API instead.
 *
 * A lock is stale when its process is gone, or when its PID now belongs to another process (one
 * that started at another time than the lock records): a stale lock is taken over with one log
 * line, never left for someone to delete by hand. The folder is made 0700 (also when it existed)
 * and the lock 0600, whatever the umask.
 */
export interface EmbeddedOwner extends ProcessIdentity {
  /** Base URL of the owner's HTTP API, when the owner is a server. */
  url?: string;
}

const LOCK_FILE = 'lock';

/** Who holds the embedded database now, if a live process (other than this one) does. */
export function readEmbeddedOwner(keelDir: string): EmbeddedOwner | undefined {
  const owner = readLockFile(keelDir);
  if (owner === undefined || isSelf(owner) || holderState(owner) !== 'alive') return undefined;
  return owner;
}

/**
 * Takes the lock, or throws `store_locked` naming the holder. Creates the folder (0700) when
 * missing. A stale lock is taken over, logged once on `logger`. Returns a release function.
 */
export function acquireEmbeddedLock(
  keelDir: string,
  { url, logger }: { url?: string; logger?: Logger } = {},
): () => void {
  ensurePrivateDirectory(keelDir, { restrict: true });
  const path = join(keelDir, LOCK_FILE);
  const previous = readLockFile(keelDir);
  if (previous !== undefined && !isSelf(previous)) {
    const state = holderState(previous);
    if (state === 'alive') {
      throw new KeelError({
        code: 'store_locked',
        message:
          `The embedded database in ${keelDir} is in use by process ${previous.pid}. ` +
          `Stop that process, or set DATABASE_URL to a Postgres server to run several processes.`,
        fault: 'caller',
        details: { pid: previous.pid },
      });
    }
    logger?.warn('taking over a stale embedded database lock', {
      lock: path,
      pid: previous.pid,
      reason: state === 'dead' ? 'its process is gone' : 'its PID now belongs to another process',
    });
  }
  const self = currentProcessIdentity();
  writePrivateFile(path, JSON.stringify({ ...self, ...(url === undefined ? {} : { url }) }));
  return () => {
    const current = readLockFile(keelDir);
    if (current !== undefined && isSelf(current)) rmSync(path, { force: true });
  };
}

/**
 * Records the server URL in the lock so other commands find the server. A server listening on
 * every interface (0.0.0.0, ::) is advertised at its loopback address: the CLI only ever sends
 * its admin key to a loopback URL.
 */
export function advertiseServer(keelDir: string, url: string): void {
  const advertised = new URL(url);
  if (advertised.hostname === '0.0.0.0') advertised.hostname = '127.0.0.1';
  else if (advertised.hostname === '[::]') advertised.hostname = '[::1]';
  writePrivateFile(
    join(keelDir, LOCK_FILE),
    JSON.stringify({ ...currentProcessIdentity(), url: advertised.origin }),
  );
}

function readLockFile(keelDir: string): EmbeddedOwner | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(keelDir, LOCK_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { pid, startTime, url } = parsed as Record<string, unknown>;
  if (typeof pid !== 'number') return undefined;
  return {
    pid,
    ...(typeof startTime === 'string' ? { startTime } : {}),
    ...(typeof url === 'string' ? { url } : {}),
  };
}

/** This process wrote the lock (same PID, and same start time when both are known). */
function isSelf(owner: ProcessIdentity): boolean {
  if (owner.pid !== process.pid) return false;
  const self = currentProcessIdentity();
  return owner.startTime === undefined || self.startTime === undefined || owner.startTime === self.startTime;
}
