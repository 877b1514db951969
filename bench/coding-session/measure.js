// Child process of the coding-session benchmark: `node coding-session/measure.js` (run.js runs it).
//
// Replays the recorded Claude Code session (session.json: record.js) at closed-loop concurrency 1
// and 32 through Keel's gateway (`POST /v1/messages`), Portkey's (`/v1/messages`, provider
// anthropic) and the bare undici proxy, and straight to the fake upstream ("direct"): every
// request with Claude Code's exact body, headers and query, streamed as Claude Code streams, the
// upstream (upstream.js) answering each turn with the recorded answer. The processes are the
// gateway benchmark's (gateway/: procs.js, load.js, bare.js, portkey.js, keel.js). Before the
// load, each system replays the whole session once and must hand back every recorded answer's
// content (thinking, text, tool calls) and its `message_stop`.
//
// Settings: KEEL_BENCH_SESSION_SECONDS (measured seconds per cell, default 5),
// KEEL_BENCH_SESSION_WARMUP (default 1), KEEL_BENCH_SESSION_PREWARM (untimed seconds at the
// highest concurrency per system, default 1.5), KEEL_BENCH_SESSION_CONCURRENCY (default 1,32),
// KEEL_BENCH_SESSION_SYSTEMS (default direct,bare,portkey,keel).
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { childMain } from '../lib/child.js';
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
} from '../gateway/procs.js';
import { claudeCode } from './record.js';
import { FIXTURE, readSession, replayRequests } from './session.js';

const UPSTREAM = fileURLToPath(new URL('./upstream.js', import.meta.url));
const CONFIG = fileURLToPath(new URL('./keel.config.js', import.meta.url));
const SECONDS = Number(process.env.KEEL_BENCH_SESSION_SECONDS ?? 5);
const WARMUP = Number(process.env.KEEL_BENCH_SESSION_WARMUP ?? 1);
const PREWARM = Number(process.env.KEEL_BENCH_SESSION_PREWARM ?? 1.5);
const CONCURRENCY = (process.env.KEEL_BENCH_SESSION_CONCURRENCY ?? '1,32').split(',').map(Number);
const SYSTEMS = (process.env.KEEL_BENCH_SESSION_SYSTEMS ?? 'direct,bare,portkey,keel').split(',');
const PATH = '/v1/messages';
/** Gateways started, whose close() (their store) runs at the end, whatever happens. */
const opened = [];

/**
 * What an Anthropic event stream says, whatever its chunking and ids: the content blocks' types
 * and, concatenated, their thinking, text, tool names and tool input JSON; the stop reason; and
 * whether it ended with `message_stop`.
 */
export function streamContent(text) {
  const blocks = [];
  let stopReason;
  let stopped = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const event = JSON.parse(line.slice(5));
    if (event.type === 'content_block_start') {
      const b = event.content_block;
      blocks[event.index] = { type: b.type, text: b.type === 'tool_use' ? b.name : '' };
    } else if (event.type === 'content_block_delta') {
      const d = event.delta;
      blocks[event.index].text += d.text ?? d.thinking ?? d.partial_json ?? '';
    } else if (event.type === 'message_delta') stopReason = event.delta?.stop_reason;
    else if (event.type === 'message_stop') stopped = true;
  }
  return { blocks, stopReason, stopped };
}

/** Replays the whole session once through `system`; throws at the first answer that differs. */
async function checkSession(system, session) {
  const requests = replayRequests(session);
  for (const [i, r] of requests.entries()) {
    const headers = { ...r.headers, ...system.headers };
    const got =
      i === 0
        ? await waitForAnswer(system.proc, system.url + r.query, headers, r.body)
        : await post(system.url + r.query, headers, r.body, 15_000);
    if (got.status !== 200)
      throw new Error(`request ${i + 1}: HTTP ${got.status}: ${got.text.slice(0, 300)}`);
    const want = JSON.stringify(streamContent(session.exchanges[i].response.chunks.join('')));
    const have = JSON.stringify(streamContent(got.text));
    if (have !== want)
      throw new Error(`request ${i + 1}: answer ${have.slice(0, 300)}, recorded ${want.slice(0, 300)}`);
  }
}

function memory(system) {
  const m = system.proc && !system.proc.exited ? memoryOf(system.proc.pid) : undefined;
  return m ? { rss: m.rss, peak: m.peak } : undefined;
}

async function main() {
  const started = Date.now();
  const loadStart = loadavg()[0];
  const session = readSession();
  const installed = claudeCode().version;
  if (session.recordedWith.claudeCode !== installed)
    throw new Error(
      `${FIXTURE} was recorded with Claude Code ${session.recordedWith.claudeCode}, the installed one is ` +
        `${installed}: re-record it (npm run build && node bench/coding-session/record.js)`,
    );
  const requests = replayRequests(session);
  const results = {};
  const live = [];
  const upstream = await startListening('fake Anthropic upstream', UPSTREAM);

  if (SYSTEMS.includes('direct')) {
    const direct = {
      key: 'direct',
      name: 'direct (fake upstream)',
      proc: upstream.proc,
      url: `http://127.0.0.1:${upstream.port}${PATH}`,
      headers: { 'x-api-key': 'sk-mock-bench' },
    };
    results.direct = { system: direct.name };
    try {
      await checkSession(direct, session);
      live.push(direct);
    } catch (error) {
      results.direct.error = error.message;
    }
  }
  for (const key of SYSTEMS.filter((s) => s !== 'direct')) {
    const module = await import(`../gateway/${key}.js`);
    results[key] = { system: module.name };
    let system;
    try {
      const port = await freePort();
      system = {
        key,
        name: module.name,
        ...(await module.start({
          port,
          upstreamPort: upstream.port,
          path: PATH,
          config: CONFIG,
          database: 'keel_bench_session_keel',
        })),
      };
      opened.push(system);
      await checkSession(system, session);
      results[key].info = { ...system.info, version: system.version };
      live.push(system);
    } catch (error) {
      let reason = error.message.split('\n').slice(0, 3).join(' / ');
      if (system?.info?.key) reason += ` (key from ${system.info.key}, store ${system.info.store})`;
      if (error.keelUnavailable) results[key].unavailable = reason;
      else results[key].error = reason;
      if (system) await stopProcess(system.proc);
    }
  }

  const cell = (s, concurrency, seconds = SECONDS, warmupSeconds = WARMUP) =>
    runLoadCell(s, { stream: true, concurrency, seconds, warmupSeconds, session: FIXTURE });
  for (const s of live) results[s.key].memory = { idle: memory(s) };
  if (PREWARM > 0) for (const s of live) await cell(s, Math.max(...CONCURRENCY), PREWARM, 0);
  for (const [i, c] of CONCURRENCY.entries()) {
    // Rotating order, so a busy spell of the machine weighs on every system, not on one.
    const order = live.map((_, j) => live[(j + i) % live.length]);
    for (const s of order) {
      results[s.key].cells ??= {};
      results[s.key].cells[c] = s.proc.exited
        ? { error: `${s.name} exited (${s.proc.code})` }
        : await cell(s, c);
    }
  }
  for (const s of live) results[s.key].memory.after = memory(s);

  for (const s of live) await stopProcess(s.proc);
  await stopProcess(upstream.proc);
  const bytes = requests.map((r) => r.body.length);
  return {
    seconds: SECONDS,
    warmupSeconds: WARMUP,
    concurrency: CONCURRENCY,
    session: {
      claudeCode: session.recordedWith.claudeCode,
      recorded: session.recordedWith.date,
      requests: requests.length,
      requestBytes: {
        min: Math.min(...bytes),
        max: Math.max(...bytes),
        total: bytes.reduce((a, b) => a + b, 0),
      },
      answerBytes: session.exchanges.reduce((n, e) => n + e.response.chunks.join('').length, 0),
      answerEvents: session.exchanges.reduce((n, e) => n + e.response.chunks.length, 0),
    },
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
