// Child process of the gateway benchmark: `node gateway/measure.js` (run.js runs it).
//
// Starts the mock upstream (mock-upstream.js), the bare proxy floor (bare.js), Portkey
// (portkey.js) and Keel's gateway (keel.js), each in a process of its own, checks that each answers the mock's reply
// correctly, then for each mode (non-streaming, streaming) and concurrency runs a closed-loop
// load (load.js, again a process of its own) against direct = the mock itself, then each
// gateway, in rotating order, one cell at a time. Reports every cell's figures and the resident
// memory of each process (idle before load, after each mode, peak).
//
// Settings: KEEL_BENCH_GATEWAY_SECONDS (measured seconds per cell, default 5),
// KEEL_BENCH_GATEWAY_WARMUP (seconds before each cell's measured ones, default 1),
// KEEL_BENCH_GATEWAY_PREWARM (untimed seconds at concurrency 64 per system and mode once every
// system is up, default 1.5), KEEL_BENCH_GATEWAY_CONCURRENCY (default 1,64,256),
// KEEL_BENCH_GATEWAY_SYSTEMS (default direct,bare,portkey,keel).
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { childMain } from '../lib/child.js';
import { requestBody } from './load.js';
import {
  freePort,
  killAllNow,
  memoryOf,
  post,
  runLoadCell,
  startListening,
  stopAll,
  stopProcess,
  waitForAnswer,
} from './procs.js';

const MOCK = fileURLToPath(new URL('./mock-upstream.js', import.meta.url));
const SECONDS = Number(process.env.KEEL_BENCH_GATEWAY_SECONDS ?? 5);
const WARMUP = Number(process.env.KEEL_BENCH_GATEWAY_WARMUP ?? 1);
/** Seconds of untimed load per system and mode before the first cell (JIT, pools, caches). */
const PREWARM = Number(process.env.KEEL_BENCH_GATEWAY_PREWARM ?? 1.5);
const CONCURRENCY = (process.env.KEEL_BENCH_GATEWAY_CONCURRENCY ?? '1,64,256').split(',').map(Number);
const SYSTEMS = (process.env.KEEL_BENCH_GATEWAY_SYSTEMS ?? 'direct,bare,portkey,keel').split(',');
const MODES = ['json', 'stream'];
/** What the mock answers; every system must pass it through. */
const EXPECTED = 'The quick brown fox jumps over the lazy dog.';
/** Gateways started, whose close() (their store) runs at the end, whatever happens. */
const opened = [];

/** Checks one non-streaming and one streaming answer; throws with what was wrong. */
async function checkAnswers(system) {
  const json = await waitForAnswer(system.proc, system.url, system.headers, requestBody(false));
  if (json.status !== 200) throw new Error(`HTTP ${json.status}: ${json.text.slice(0, 300)}`);
  const content = JSON.parse(json.text).choices?.[0]?.message?.content;
  if (content !== EXPECTED) throw new Error(`unexpected reply: ${json.text.slice(0, 300)}`);
  const sse = await post(system.url, system.headers, requestBody(true));
  if (sse.status !== 200) throw new Error(`streaming: HTTP ${sse.status}: ${sse.text.slice(0, 300)}`);
  const events = sse.text
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trim());
  const text = events
    .filter((e) => e !== '[DONE]')
    .map((e) => JSON.parse(e).choices?.[0]?.delta?.content ?? '')
    .join('');
  if (text !== EXPECTED || events.at(-1) !== '[DONE]')
    throw new Error(`streaming: unexpected events: ${sse.text.slice(0, 300)}`);
}

/** One load cell in a process of its own. */
function runCell(system, stream, concurrency, seconds = SECONDS, warmupSeconds = WARMUP) {
  return runLoadCell(system, { stream, concurrency, seconds, warmupSeconds });
}

function memory(system) {
  const m = system.proc && !system.proc.exited ? memoryOf(system.proc.pid) : undefined;
  return m ? { rss: m.rss, peak: m.peak, processes: m.processes } : undefined;
}

async function main() {
  const started = Date.now();
  const loadStart = loadavg()[0];
  const results = {};
  const live = [];
  const mock = await startListening('mock upstream', MOCK);

  if (SYSTEMS.includes('direct')) {
    const direct = {
      key: 'direct',
      name: 'direct (mock upstream)',
      proc: mock.proc,
      url: `http://127.0.0.1:${mock.port}/v1/chat/completions`,
      headers: { authorization: 'Bearer sk-mock-bench' },
    };
    results.direct = { system: direct.name, info: { process: 'the mock upstream' } };
    live.push(direct);
  }

  for (const key of SYSTEMS.filter((s) => s !== 'direct')) {
    const module = await import(`./${key}.js`);
    results[key] = { system: module.name };
    let system;
    try {
      const port = await freePort();
      system = { key, name: module.name, ...(await module.start({ port, upstreamPort: mock.port })) };
      opened.push(system);
      await checkAnswers(system);
      results[key].info = { ...system.info, version: system.version };
      live.push(system);
    } catch (error) {
      // Keel not being wired yet is a state to report; a peer that fails is an error.
      let reason = error.message.split('\n').slice(0, 3).join(' / ');
      if (system?.info?.key) reason += ` (key from ${system.info.key}, store ${system.info.store})`;
      if (error.keelUnavailable || key === 'keel') results[key].unavailable = reason;
      else results[key].error = reason;
      if (system) await stopProcess(system.proc);
    }
  }

  for (const s of live) results[s.key].memory = { idle: memory(s) };
  if (PREWARM > 0) {
    for (const s of live) for (const mode of MODES) await runCell(s, mode === 'stream', 64, PREWARM, 0);
  }
  for (const mode of MODES) {
    for (const [i, c] of CONCURRENCY.entries()) {
      // Rotating order, so a busy spell of the machine weighs on every system, not on one.
      const order = live.map((_, j) => live[(j + i + MODES.indexOf(mode)) % live.length]);
      for (const s of order) {
        results[s.key][mode] ??= {};
        if (s.proc.exited) {
          results[s.key][mode][c] = { error: `${s.name} exited (${s.proc.code})` };
          continue;
        }
        results[s.key][mode][c] = await runCell(s, mode === 'stream', c);
      }
    }
    for (const s of live) results[s.key].memory[mode] = memory(s);
  }
  for (const s of live) {
    const m = memory(s);
    results[s.key].memory.after = m;
    results[s.key].memory.peak = m?.peak;
  }

  for (const s of live) await stopProcess(s.proc);
  await stopProcess(mock.proc);
  return {
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    concurrency: CONCURRENCY,
    modes: MODES,
    cpus: cpus().length,
    loadavg: { start: loadStart, end: loadavg()[0] },
    elapsedSeconds: (Date.now() - started) / 1000,
    systems: results,
  };
}

// Leave nothing behind: on errors (childMain), SIGINT, SIGTERM and exit.
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void stopAll().finally(() => process.exit(130));
  });
}
await childMain(async () => {
  try {
    return await main();
  } finally {
    await stopAll();
    for (const s of opened) await s.close().catch(() => {});
  }
});
