// Processes of the gateway benchmark: start and stop servers, free ports, memory, readiness.
//
// Every process is started with --import orphan-guard.mjs (it exits when its parent is gone)
// and registered here; stopAll() ends them (SIGTERM, then SIGKILL) and measure.js calls it on
// exit, on errors, on SIGINT and on SIGTERM.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { RESULT_PREFIX } from '../lib/child.js';

export const GUARD = new URL('./orphan-guard.mjs', import.meta.url).href;
const LOAD = fileURLToPath(new URL('./load.js', import.meta.url));
const TAIL_BYTES = 16 * 1024;
const running = new Set();
/** ANSI colour codes (the peers' banners). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/**
 * Starts `node --import orphan-guard.mjs <args...>`. Keeps the tail of its output (for error
 * messages); `onLine(line)` sees stdout lines until it returns true.
 */
export function startProcess(label, args, { env = {}, cwd, onLine } = {}) {
  const child = spawn(process.execPath, ['--import', GUARD, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const proc = { label, child, pid: child.pid, output: '', exited: false, code: null };
  const keep = (d) => {
    proc.output += d;
    if (proc.output.length > 2 * TAIL_BYTES) {
      // Keep a tail, but never cut into a result line (a child's report may be larger than it).
      const result = proc.output.lastIndexOf(RESULT_PREFIX);
      const cut = proc.output.length - TAIL_BYTES;
      proc.output = proc.output.slice(result >= 0 && result < cut ? result : cut);
    }
  };
  let pending = '';
  let watching = Boolean(onLine);
  child.stdout.on('data', (d) => {
    keep(d);
    if (!watching) return;
    pending += d;
    let nl;
    while (watching && (nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (onLine(line)) watching = false;
    }
  });
  child.stderr.on('data', keep);
  proc.done = new Promise((resolve) => {
    child.on('error', (error) => {
      keep(`\n${error.message}\n`);
      proc.exited = true;
      proc.code = error.code;
      running.delete(proc);
      resolve();
    });
    child.on('exit', (code, signal) => {
      proc.exited = true;
      proc.code = signal ?? code;
      running.delete(proc);
      resolve();
    });
  });
  proc.tail = (lines = 8) => proc.output.replace(ANSI, '').trim().split('\n').slice(-lines).join('\n');
  running.add(proc);
  return proc;
}

/** SIGTERM, then SIGKILL after graceMs. */
export async function stopProcess(proc, graceMs = 5000) {
  if (!proc || proc.exited) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), graceMs);
  await proc.done;
  clearTimeout(timer);
}

/** Stops every process started here and still running. */
export async function stopAll() {
  await Promise.all([...running].map((p) => stopProcess(p)));
}

/** Kills every process started here at once (for process 'exit', where nothing can wait). */
export function killAllNow() {
  for (const p of running) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function children() {
  const byParent = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!byParent.has(ppid)) byParent.set(ppid, []);
      byParent.get(ppid).push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return byParent;
}

function statusKiB(pid, field) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
}

/**
 * Resident memory of a process and its descendants (Linux /proc), in bytes: { rss, peak }
 * where peak sums each process's high-water mark (VmHWM). Undefined where /proc is missing.
 */
export function memoryOf(pid) {
  try {
    const byParent = children();
    const pids = [pid];
    for (let i = 0; i < pids.length; i++) pids.push(...(byParent.get(pids[i]) ?? []));
    let rss = 0;
    let peak = 0;
    for (const p of pids) {
      try {
        rss += statusKiB(p, 'VmRSS') * 1024;
        peak += statusKiB(p, 'VmHWM') * 1024;
      } catch {
        // gone meanwhile
      }
    }
    return { rss, peak, processes: pids.length };
  } catch {
    return undefined;
  }
}

/**
 * CPU time (user + system, seconds) a process and its descendants used so far (Linux /proc), or
 * undefined where /proc is missing. Unlike req/s, CPU time per request hardly moves when other
 * work shares the cores.
 */
export function cpuSecondsOf(pid) {
  try {
    const byParent = children();
    const pids = [pid];
    for (let i = 0; i < pids.length; i++) pids.push(...(byParent.get(pids[i]) ?? []));
    let ticks = 0;
    for (const p of pids) {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // utime and stime, fields 14 and 15 of stat (11 and 12 after the state).
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // gone meanwhile
      }
    }
    return ticks / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux Node runs on. */
const CLOCK_TICKS = 100;

/** POSTs `body` to url; resolves { status, text } (never throws on HTTP errors). */
export async function post(url, headers, body, timeoutMs = 5000) {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

/**
 * Polls `POST url` until it answers anything that is not a connection error (then returns the
 * answer), the process exits, or timeoutMs passes (both throw).
 */
export async function waitForAnswer(proc, url, headers, body, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    if (proc.exited) throw new Error(`${proc.label} exited (${proc.code}) before answering:\n${proc.tail()}`);
    try {
      return await post(url, headers, body, 2000);
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${proc.label} did not answer within ${timeoutMs} ms (${last?.message}):\n${proc.tail()}`,
      );
    await sleep(100);
  }
}

/**
 * Starts `node script` (a fake upstream that prints `{"port": N}` once it listens); resolves
 * { proc, port }.
 */
export async function startListening(label, script, { env } = {}) {
  let gotPort;
  const ready = new Promise((resolve) => (gotPort = resolve));
  const proc = startProcess(label, [script], {
    env,
    onLine(line) {
      try {
        gotPort(JSON.parse(line).port);
        return true;
      } catch {
        return false;
      }
    },
  });
  const port = await Promise.race([
    ready,
    proc.done.then(() => {
      throw new Error(`${label} exited (${proc.code}):\n${proc.tail()}`);
    }),
    sleep(10_000).then(() => {
      throw new Error(`${label} did not start within 10 s`);
    }),
  ]);
  return { proc, port };
}

/**
 * One load cell (load.js) in a process of its own against `system` ({ key, name, proc, url,
 * headers }): `spec` = { stream, concurrency, seconds, warmupSeconds, session? }. Adds the
 * system's own CPU time per answer (cpuUsPerRequest: the mock's, for direct; warm-up included on
 * both sides).
 */
export async function runLoadCell(system, spec) {
  const { seconds, warmupSeconds } = spec;
  const full = { url: system.url, headers: system.headers, ...spec };
  const cpuBefore = cpuSecondsOf(system.proc.pid);
  const proc = startProcess(`load ${system.key}`, [LOAD, JSON.stringify(full)]);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), (seconds + warmupSeconds + 30) * 1000);
  await proc.done;
  clearTimeout(timer);
  const cpuAfter = cpuSecondsOf(system.proc.pid);
  const at = proc.output.lastIndexOf(RESULT_PREFIX);
  if (at < 0) return { error: `load generator exited (${proc.code}): ${proc.tail(4)}` };
  const result = JSON.parse(proc.output.slice(at + RESULT_PREFIX.length).split('\n')[0]);
  if (cpuBefore !== undefined && cpuAfter !== undefined && result.completed > 0)
    result.cpuUsPerRequest = ((cpuAfter - cpuBefore) * 1e6) / result.completed;
  // What the system said about its errors (the raw results keep it).
  if (result.errors > 0) result.log = system.proc.tail(6);
  if (system.proc.exited)
    return {
      ...result,
      error: `${system.name} exited (${system.proc.code}) during the load: ${system.proc.tail(4)}`,
    };
  return result;
}
