// Protocol between run.js and the per-system benchmark processes: each system runs in a child
// process of its own (no shared globals such as DBOS's, no leaked pools) and reports one JSON
// line prefixed with RESULT_PREFIX on stdout.
import { spawn } from 'node:child_process';

export const RESULT_PREFIX = '@@keel-bench-result ';

/** Reports a child's result (call once, at the end of the child). */
export function report(result) {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/**
 * Runs `node script ...args` and resolves with its reported result, or with
 * { error } when it fails, reports nothing or runs past timeoutMs (then it is killed).
 */
export function runChild(script, args = [], { timeoutMs = 120_000, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const at = stdout.lastIndexOf(RESULT_PREFIX);
      if (at >= 0) {
        const line = stdout.slice(at + RESULT_PREFIX.length).split('\n')[0];
        try {
          return resolve(JSON.parse(line));
        } catch {
          // fall through: report the output
        }
      }
      const tail = (stderr || stdout).trim().split('\n').slice(-6).join('\n');
      const why = timedOut ? `timed out after ${timeoutMs} ms` : `exited with ${signal ?? code}`;
      resolve({ error: `${why}${tail ? `: ${tail}` : ''}` });
    });
  });
}

/** Runs `main` as a child's body: reports its result, or { error } when it throws. */
export async function childMain(main) {
  try {
    report(await main(process.argv.slice(2)));
    process.exitCode = 0;
  } catch (error) {
    // Keel's API not being there yet is a state to report, not a crash.
    report(
      error?.keelUnavailable ? { unavailable: error.message } : { error: error?.stack ?? String(error) },
    );
    process.exitCode = error?.keelUnavailable ? 0 : 1;
  }
}
