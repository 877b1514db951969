/**
 * Files only their owner may read: the embedded database, its lock files and the local admin
 * key. Modes are set explicitly after creation (chmod), because the mode given at creation is
 * filtered by the process's umask: with a permissive umask (000, 002) a directory created "0700"
 * would not be.
 */
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Owner only: rwx for directories, rw for files. */
export const PRIVATE_DIRECTORY_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `path` (and missing parents) mode 0700 whatever the umask. A directory that already
 * existed keeps its mode (it may be one the user chose and shares on purpose), unless `restrict`:
 * for a folder that is Keel's own (`.keel/`, a PGlite data directory), made 0700 as well, so a
 * folder created by an older version under a permissive umask is closed on the next start.
 */
export function ensurePrivateDirectory(
  path: string,
  { restrict = false }: { restrict?: boolean } = {},
): void {
  const target = resolve(path);
  const first = mkdirSync(target, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  if (first === undefined) {
    if (restrict && (statSync(target).mode & 0o777) !== PRIVATE_DIRECTORY_MODE) {
      try {
        chmodSync(target, PRIVATE_DIRECTORY_MODE);
      } catch (error) {
        // Another user's folder that this one may write: its owner decides its mode.
        if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
      }
    }
    return;
  }
  // Every directory created, from the first one down to the target.
  for (let directory = target; ; directory = dirname(directory)) {
    chmodSync(directory, PRIVATE_DIRECTORY_MODE);
    if (directory === first || directory === dirname(directory)) break;
  }
}

/**
 * Writes `content` to `path` mode 0600 whatever the umask, replacing what was there (an existing
 * file's mode is set too). `flag` `wx` fails with EEXIST instead of replacing.
 */
export function writePrivateFile(path: string, content: string, flag: 'w' | 'wx' = 'w'): void {
  const descriptor = openSync(path, flag, PRIVATE_FILE_MODE);
  try {
    fchmodSync(descriptor, PRIVATE_FILE_MODE);
    writeSync(descriptor, content);
  } finally {
    closeSync(descriptor);
  }
}
