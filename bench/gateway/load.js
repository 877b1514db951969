// Closed-loop load generator, in a process of its own:
//
//   node gateway/load.js '{"url":"http://127.0.0.1:N/v1/chat/completions","headers":{...},
//                          "stream":false,"concurrency":64,"seconds":5,"warmupSeconds":1}'
//
// `concurrency` workers share one undici Pool of as many keep-alive connections (pipelining 1):
// each sends a request, reads the whole response, and sends the next, until the time is up.
// Requests started during the warm-up are not recorded. Per request: the latency to the last
// byte of the response and, streaming, to its first body byte (the first SSE event). Reports
// (one RESULT line, see lib/child.js) requests/s and p50/p95/p99 in ms, plus errors.
//
// With `"session": "<file>"` (a recorded Claude Code session, coding-session/session.json) the
// workers replay its Messages requests instead of the chat request: each its exact body, headers
// and query (the URL's path + the recorded `?beta=true`), `headers` replacing the recording's
// credentials; worker i starts at request i and walks the session round. Streamed answers must
// end with Anthropic's `message_stop` event.
//
// Loopback only: the URL's host must be 127.0.0.1, ::1 or localhost.
import { Buffer } from 'node:buffer';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { readSession, replayRequests } from '../coding-session/session.js';
import { childMain } from '../lib/child.js';

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** The chat request every cell sends (a system and a user message, ~300 bytes). */
export function requestBody(stream) {
  return JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a terse assistant. Answer in one sentence.' },
      { role: 'user', content: 'Write a sentence that uses every letter of the English alphabet.' },
    ],
    max_tokens: 64,
    temperature: 0,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}

/** Value at quantile q (0..1) of a sorted array: nearest rank. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

class Samples {
  constructor() {
    this.values = new Float64Array(1 << 16);
    this.length = 0;
  }
  push(v) {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = v;
  }
  summary() {
    const sorted = this.values.subarray(0, this.length).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      p99: quantile(sorted, 0.99),
      mean: sorted.length ? sum / sorted.length : null,
      max: sorted.length ? sorted[sorted.length - 1] : null,
    };
  }
}

const DONE = Buffer.from('[DONE]');
const MESSAGE_STOP = Buffer.from('message_stop');

/** What each worker sends in turn: [{ path, headers, body }], and how a whole stream ends. */
function workload({ path, headers, stream, session }) {
  if (!session) {
    const one = {
      path,
      headers: { 'content-type': 'application/json', ...headers },
      body: requestBody(stream),
    };
    return { requests: [one], done: DONE };
  }
  const requests = replayRequests(readSession(session)).map((r) => ({
    path: path + r.query,
    headers: { ...r.headers, ...headers },
    body: r.body,
  }));
  return { requests, done: MESSAGE_STOP };
}

export async function runLoad({
  url,
  headers = {},
  stream = false,
  concurrency,
  seconds,
  warmupSeconds,
  session,
}) {
  const target = new URL(url);
  if (!LOOPBACK.has(target.hostname)) throw new Error(`refusing to load ${target.hostname}: loopback only`);
  const pool = new Pool(target.origin, {
    connections: concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
    connectTimeout: 5_000,
  });
  const { requests, done } = workload({ path: target.pathname + target.search, headers, stream, session });

  const total = new Samples();
  const ttfb = new Samples();
  let errors = 0;
  let errorSample;
  /** Answers that came back whole, warm-up included (for CPU time per request). */
  let completed = 0;
  const start = performance.now();
  const warmEnd = start + warmupSeconds * 1000;
  const end = warmEnd + seconds * 1000;
  let lastDone = warmEnd;

  const fail = (why, measured) => {
    if (measured) errors++;
    errorSample ??= why;
  };

  async function worker(index) {
    for (let next = index; ; next++) {
      const { path, headers: sent, body } = requests[next % requests.length];
      const t0 = performance.now();
      if (t0 >= end) return;
      const measured = t0 >= warmEnd;
      let first = -1;
      let ok = true;
      try {
        const res = await pool.request({ path, method: 'POST', headers: sent, body });
        let prev;
        let last;
        for await (const chunk of res.body) {
          if (first < 0) first = performance.now();
          prev = last;
          last = chunk;
        }
        if (res.statusCode !== 200) {
          ok = false;
          const text = last ? Buffer.concat(prev ? [prev, last] : [last]).toString('utf8') : '';
          fail(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`, measured);
        } else if (stream && !(last && Buffer.concat(prev ? [prev, last] : [last]).includes(done))) {
          ok = false;
          fail(`stream ended without ${done}`, measured);
        }
      } catch (error) {
        ok = false;
        fail(`${error.code ?? error.name}: ${error.message}`, measured);
      }
      const t1 = performance.now();
      if (ok) completed++;
      if (measured && ok) {
        total.push(t1 - t0);
        if (stream) ttfb.push(first - t0);
        if (t1 > lastDone) lastDone = t1;
      }
      // A failing target answers fast: do not spin on it.
      if (!ok) await sleep(5);
    }
  }

  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  await pool.destroy();
  // Requests started in [warmEnd, end) over the time until the last of them finished.
  const measuredSeconds = (Math.max(end, lastDone) - warmEnd) / 1000;
  return {
    concurrency,
    stream,
    requests: total.length,
    completed,
    errors,
    errorSample,
    seconds: measuredSeconds,
    rps: total.length / measuredSeconds,
    latency: total.summary(),
    ttfb: stream ? ttfb.summary() : undefined,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const spec = JSON.parse(process.argv[2]);
  // Bounded in time whatever happens: the cell, its warm-up, and 20 s to drain.
  setTimeout(() => process.exit(3), (spec.seconds + spec.warmupSeconds + 20) * 1000).unref();
  await childMain(() => runLoad(spec));
}
