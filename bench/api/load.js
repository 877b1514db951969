// Keel's load generator of the API benchmark, in a process of its own:
//
//   node api/load.js '{"url":"http://127.0.0.1:N","key":"...","agent":"bench3",
//                      "concurrency":32,"seconds":4,"warmupSeconds":1}'
//
// `concurrency` submitters on an undici Pool of as many keep-alive connections: each sends
// `POST /v1/runs?wait=30 {agent, input}` (the server answers once the run is terminal: it
// is woken when the run ends), checks that the run completed, and sends the next (loop.js).
// Loopback only.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { childMain } from '../lib/child.js';
import { closedLoop } from './loop.js';

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

export async function runLoad({ url, key, agent, concurrency, seconds, warmupSeconds }) {
  const target = new URL(url);
  if (!LOOPBACK.has(target.hostname)) throw new Error(`refusing to load ${target.hostname}: loopback only`);
  const pool = new Pool(target.origin, {
    connections: concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: 40_000,
    bodyTimeout: 40_000,
    connectTimeout: 5_000,
  });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  let seq = 0;
  const runOne = async () => {
    const body = JSON.stringify({ agent, input: `go ${seq++}` });
    const res = await pool.request({ path: '/v1/runs?wait=30', method: 'POST', headers, body });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    const run = JSON.parse(text);
    if (run.status !== 'completed')
      throw new Error(`run ${run.id} ended ${run.status}: ${text.slice(0, 200)}`);
    return run.id;
  };
  try {
    return await closedLoop({ concurrency, seconds, warmupSeconds, runOne });
  } finally {
    await pool.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const spec = JSON.parse(process.argv[2]);
  // Bounded in time whatever happens: the cell, its warm-up, and 40 s for the last waits.
  setTimeout(() => process.exit(3), (spec.seconds + spec.warmupSeconds + 40) * 1000).unref();
  await childMain(() => runLoad(spec));
}
