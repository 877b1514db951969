// CPU profile of Keel's gateway under the recorded Claude Code session: where its CPU per request
// goes. Starts the fake upstream and `keel gateway` (run under `node --cpu-prof`, with the
// benchmark's config and a fresh Postgres database, as measure.js starts it), replays the session
// at concurrency C for S seconds (the benchmark's load generator), stops the gateway (SIGTERM:
// Node writes the profile as it exits) and prints the functions with the most self and total
// time, in ms and as a share of the profile's busy (non-idle) time.
//
//   node bench/coding-session/profile.js [C=1] [S=10] [top=40]     (Keel must be built: dist/)
//
// Env: KEEL_BENCH_KEEL_BIN (another build's bin/keel.js, to compare), KEEL_BENCH_PROFILE_DIR (where the .cpuprofile goes, default a temporary folder; it is kept
// and its path printed, to open in Chrome DevTools or to re-read with `--read <file>`).
// `node bench/coding-session/profile.js --read <file.cpuprofile> [top] [only] [requests]` prints a
// saved profile: the functions whose name or file contains `only` (e.g. `dist/`), per request
// when given the number of requests.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import {
  freePort,
  runLoadCell,
  startListening,
  startProcess,
  stopAll,
  stopProcess,
  waitForAnswer,
} from '../gateway/procs.js';
import { apiKey } from '../gateway/keel.js';
import { benchDatabase, dropDatabase, freshDatabase } from '../lib/db.js';
import { FIXTURE, readSession, replayRequests } from './session.js';

const UPSTREAM = fileURLToPath(new URL('./upstream.js', import.meta.url));
const CONFIG = fileURLToPath(new URL('./keel.config.js', import.meta.url));
// The Keel the bench links (bench/node_modules/keel), or KEEL_BENCH_KEEL_BIN (another build's bin/keel.js).
const BIN =
  process.env.KEEL_BENCH_KEEL_BIN ??
  fileURLToPath(new URL('../node_modules/keel/bin/keel.js', import.meta.url));

/**
 * Self and total time per function (name, file, line) of a .cpuprofile. Total counts a sample
 * once per function however often it recurs on the stack. Idle, GC and "(program)" stay apart.
 */
export function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n) => {
    const f = n.callFrame;
    const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
    return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
  };
  const self = new Map();
  const total = new Map();
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]);
    const name = node.callFrame.functionName;
    if (name === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const k = keyOf(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const key = keyOf(byId.get(id));
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + dt);
    }
  }
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return { busy, idle, self: sorted(self), total: sorted(total) };
}

function print(summary, top, perRequest, only = '') {
  const { busy, idle } = summary;
  const line = ([k, ms]) =>
    `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / busy).toFixed(1).padStart(5)}%` +
    (perRequest ? ` ${((1000 * ms) / perRequest).toFixed(0).padStart(6)} µs/req` : '') +
    `  ${k}`;
  console.log(`busy ${busy.toFixed(0)} ms, idle ${idle.toFixed(0)} ms`);
  console.log(`\n== self time (top ${top})`);
  const pick = (entries) => entries.filter(([k]) => k.includes(only)).slice(0, top);
  for (const e of pick(summary.self)) console.log(line(e));
  console.log(`\n== total time (top ${top})`);
  for (const e of pick(summary.total.filter(([k]) => !k.startsWith('(root)')))) console.log(line(e));
}

if (process.argv[2] === '--read') {
  const summary = summarize(JSON.parse(readFileSync(process.argv[3], 'utf8')));
  print(summary, Number(process.argv[4] ?? 40), Number(process.argv[6]) || undefined, process.argv[5]);
  process.exit(0);
}

const concurrency = Number(process.argv[2] ?? 1);
const seconds = Number(process.argv[3] ?? 10);
const top = Number(process.argv[4] ?? 40);
const dir = process.env.KEEL_BENCH_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'keel-profile-'));
const database = benchDatabase('keel_bench_profile');
process.on('exit', () => void stopAll());

const upstream = await startListening('fake Anthropic upstream', UPSTREAM);
const databaseUrl = await freshDatabase(database);
let completed = 0;
try {
  const env = {
    DATABASE_URL: databaseUrl,
    KEEL_BENCH_UPSTREAM_PORT: String(upstream.port),
    MOCK_API_KEY: 'sk-mock-bench',
  };
  const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  const { key, gatewayEnv } = apiKey({ help: `${help.stdout}\n${help.stderr}`, storeEnv: env });
  const port = await freePort();
  const proc = startProcess(
    'Keel gateway',
    ['--cpu-prof', '--cpu-prof-dir', dir, BIN, 'gateway', '--port', String(port), '--config', CONFIG],
    { env: { ...env, ...gatewayEnv } },
  );
  const system = {
    key: 'keel',
    name: 'Keel',
    proc,
    url: `http://127.0.0.1:${port}/v1/messages`,
    headers: { 'x-api-key': key },
  };
  const first = replayRequests(readSession())[0];
  const answer = await waitForAnswer(
    proc,
    system.url + first.query,
    { ...first.headers, ...system.headers },
    first.body,
  );
  if (answer.status !== 200) throw new Error(`Keel answered ${answer.status}: ${answer.text.slice(0, 300)}`);
  const result = await runLoadCell(system, {
    stream: true,
    concurrency,
    seconds,
    warmupSeconds: 1,
    session: FIXTURE,
  });
  if (result.error) throw new Error(result.error);
  completed = result.completed;
  console.log(
    `C=${concurrency}: ${result.completed} requests, ${result.rps?.toFixed(0)} req/s, ` +
      `${result.cpuUsPerRequest?.toFixed(0)} CPU µs/req, errors ${result.errors}`,
  );
  await stopProcess(proc, 15_000);
  const file = readdirSync(dir).find((f) => f.includes(`.${proc.pid}.`) && f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile of pid ${proc.pid} in ${dir}`);
  console.log(`profile: ${join(dir, file)}`);
  // Requests include the warm-up ones (not counted in `completed`): per-request figures are an
  // upper bound, close enough to rank the costs.
  print(summarize(JSON.parse(readFileSync(join(dir, file), 'utf8'))), top, completed);
} finally {
  await stopProcess(upstream.proc);
  await stopAll();
  await dropDatabase(database);
}
