/**
 * Which process holds a lock file, told apart from a later process that got the same PID. A PID
 * alone is not an identity: after a crash (or a reboot, or in a container where every start is
 * PID 1 or 7) the PID of a lock's owner may belong to another, unrelated process, and a lock that
 * trusts it blocks start-up until someone deletes files by hand. A lock therefore records the
 * owner's start time too, and a holder is alive only when a process with that PID exists AND
 * started at that time.
 *
 * Start time: on Linux, field 22 (`starttime`, clock ticks since boot) of `/proc/<pid>/stat`;
 * elsewhere, `ps -o lstart= -p <pid>` (macOS, the BSDs). Where neither answers (Windows), the
 * start time is unknown and the check falls back to the PID alone, as before.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A process as a lock file records it. */
export interface ProcessIdentity {
  pid: number;
  /** Opaque, comparable only with another value read on the same machine; absent when unknown. */
  startTime?: string;
}

/** How a recorded holder of a lock stands now. */
export type HolderState = 'alive' | 'dead' | 'pid-reused';

/** The start time of process `pid`, or undefined when there is no such process or it cannot be read. */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const linux = linuxStartTime(pid);
  if (linux !== 'unsupported') return linux;
  return psStartTime(pid);
}

let self: ProcessIdentity | undefined;

/** This process, with its start time when the platform tells it (read once). */
export function currentProcessIdentity(): ProcessIdentity {
  if (self?.pid !== process.pid) {
    const startTime = processStartTime(process.pid);
    self = startTime === undefined ? { pid: process.pid } : { pid: process.pid, startTime };
  }
  return { ...self };
}

/**
 * Whether the process a lock names is still the one that wrote it: `dead` when no process has
 * that PID, `pid-reused` when one has it but started at another time than recorded, `alive`
 * otherwise (also when either start time is unknown: then only the PID can be checked).
 */
export function holderState(holder: ProcessIdentity): HolderState {
  if (!isPidAlive(holder.pid)) return 'dead';
  if (holder.startTime === undefined) return 'alive';
  const now = processStartTime(holder.pid);
  if (now === undefined) return isPidAlive(holder.pid) ? 'alive' : 'dead';
  return now === holder.startTime ? 'alive' : 'pid-reused';
}

/** True when a process with this PID exists (EPERM: it exists but belongs to another user). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function linuxStartTime(pid: number): string | undefined | 'unsupported' {
  if (process.platform !== 'linux') return 'unsupported';
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // No /proc at all (an unusual sandbox): try ps instead.
    if (code === 'ENOENT' && !procMounted()) return 'unsupported';
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses:
  // fields are counted after the last `)`, where field 3 comes first.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTime = fields[22 - 3];
  return startTime !== undefined && /^\d+$/.test(startTime) ? startTime : undefined;
}

let procChecked: boolean | undefined;
function procMounted(): boolean {
  if (procChecked === undefined) {
    try {
      readFileSync('/proc/self/stat', 'utf8');
      procChecked = true;
    } catch {
      procChecked = false;
    }
  }
  return procChecked;
}

function psStartTime(pid: number): string | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    const output = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2_000,
      env: { ...process.env, LC_ALL: 'C' },
    }).trim();
    return output === '' ? undefined : output.replace(/\s+/g, ' ');
  } catch {
    return undefined;
  }
}
