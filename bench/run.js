#!/usr/bin/env node
// Keel's benchmarks against its peers, run one after the other, printed as markdown tables.
//
//   npm run bench                      (at the root: builds Keel, then runs this)
//   node bench/run.js [steps] [storage] [recovery]    (a subset; Keel must be built)
//
// Each system runs in a child process of its own, in a database of its own on the local
// Postgres (KEEL_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres), which
// is dropped afterwards. Results also go to bench/results/<time>.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { runChild } from './lib/child.js';
import { median } from './lib/stats.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ALL = ['steps', 'storage', 'recovery'];
const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 3);

function installIfMissing() {
  if (existsSync(join(BENCH, 'node_modules', '@dbos-inc', 'dbos-sdk'))) return;
  console.error('bench/node_modules is missing: installing the peers (npm ci --prefix bench)...');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: BENCH, stdio: 'inherit' });
  if (res.status !== 0) {
    console.error('Installing the bench dependencies failed. Run `npm ci --prefix bench` and try again.');
    process.exit(1);
  }
}

const fmt = (x, digits = 2) => (x === undefined || x === null || Number.isNaN(x) ? '–' : x.toFixed(digits));
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
const size = (bytes) => (bytes >= 1024 * 1024 ? mib(bytes) : kib(bytes));
const verdict = (ok) => (ok ? '**met**' : '**missed**');

/** The table cell for a child result that has no number: unavailable or failed. */
function problem(result) {
  if (result.unavailable) return `not available (${result.unavailable})`;
  if (result.error) return `error: ${result.error.split('\n')[0]}`;
  return undefined;
}

function table(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

async function benchSteps() {
  const systems = ['floor', 'dbos', 'langgraph', 'keel'];
  // Rounds interleave the systems (in a rotating order), so a busy spell of the machine weighs
  // on all of them, not on one; each round is a fresh process and database per system.
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = systems.map((_, i) => systems[(i + round) % systems.length]);
    const got = {};
    for (const s of order)
      got[s] = await runChild(join(BENCH, 'durable-steps', 'measure.js'), [s], { timeoutMs: 120_000 });
    rounds.push(got);
    if (got.keel.unavailable) systems.splice(systems.indexOf('keel'), 1);
  }
  const results = {};
  for (const s of ['floor', 'dbos', 'langgraph', 'keel']) {
    const all = rounds.map((r) => r[s]).filter(Boolean);
    const bad = all.find((r) => r.error || r.unavailable);
    if (bad) {
      results[s] = bad;
      continue;
    }
    const times = Object.fromEntries([0, 10, 50].map((n) => [n, all.flatMap((r) => r.times[n])]));
    const slopes = all.flatMap((r) => r.slopes);
    results[s] = {
      system: all[0].system,
      reps: slopes.length,
      msPerStep: median(slopes),
      queriesPerStep: median(all.map((r) => r.queriesPerStep)),
      queriesPerRun0: median(all.map((r) => r.queriesPerRun0)),
      slopes,
      medianRunMs: Object.fromEntries(Object.entries(times).map(([n, t]) => [n, median(t)])),
    };
  }
  const rows = systems.map((s) => {
    const r = results[s];
    const label = r.system ?? (s === 'keel' ? 'Keel' : s);
    const bad = problem(r);
    if (bad) return [label, bad, '', '', '', '', ''];
    return [
      label,
      fmt(r.msPerStep),
      fmt(r.queriesPerStep, 1),
      fmt(r.medianRunMs[0], 1),
      fmt(r.medianRunMs[10], 1),
      fmt(r.medianRunMs[50], 1),
      r.reps,
    ];
  });
  const out = [
    '## (a) Durable overhead per step',
    '',
    'Same agent on each system: an instant model asks for a no-op tool N times, then answers ' +
      '(2N + 1 durable steps: N + 1 model calls, N tool calls). ms per step = least-squares slope of ' +
      'run time over durable steps for N = 0, 10, 50, median over repetitions (in rounds that interleave the systems). ' +
      'SQL round trips: node-postgres query calls per step (N = 50 minus N = 0, untimed). ' +
      'The floor is one autocommitted INSERT per step: when it reads well above ~0.4 ms, the machine is busy.',
    '',
    table(
      [
        'system',
        'ms per durable step',
        'SQL round trips per step',
        'run, N = 0 (ms)',
        'run, N = 10 (ms)',
        'run, N = 50 (ms)',
        'reps',
      ],
      rows,
    ),
    '',
  ];
  const peers = ['dbos', 'langgraph'].map((s) => results[s]).filter((r) => typeof r.msPerStep === 'number');
  const faster = peers.sort((x, y) => x.msPerStep - y.msPerStep)[0];
  const keel = results.keel;
  if (faster && typeof keel.msPerStep === 'number') {
    const ratio = keel.msPerStep / faster.msPerStep;
    out.push(
      `Keel / faster peer (${faster.system}): **${fmt(ratio)}x** (target ≤ 0.5x: ${verdict(ratio <= 0.5)})`,
    );
  } else {
    out.push(`Keel / faster peer: ${problem(keel) ? `Keel ${problem(keel)}` : 'no peer figure'}`);
  }
  return { markdown: out.join('\n'), results };
}

async function benchStorage() {
  const systems = ['floor', 'dbos', 'langgraph', 'keel'];
  const results = {};
  for (const s of systems)
    results[s] = await runChild(join(BENCH, 'storage', 'measure.js'), [s], { timeoutMs: 240_000 });
  const text = Object.values(results).find((r) => r.textBytes)?.textBytes;
  const rows = systems.map((s) => {
    const r = results[s];
    const label = r.system ?? (s === 'keel' ? 'Keel' : s);
    const bad = problem(r);
    if (bad) return [label, bad, '', '', '', ''];
    const top = r.tables
      .slice(0, 3)
      .map((t) => `${t.table} ${size(t.bytes)}`)
      .join(', ');
    return [label, size(r.bytes), r.bytes, `${fmt(r.bytes / r.textBytes, 1)}x`, fmt(r.seconds, 1), top];
  });
  const out = [
    '## (b) Storage of a 500-turn conversation',
    '',
    `Each turn: a user message, a model call asking for one tool call, the tool result, a model reply; ` +
      `${text ? kib(text) : '293 KiB'} of text in all. Bytes = pg_total_relation_size (heap, TOAST, ` +
      'indexes) summed over the tables the system uses, in a database of its own.',
    '',
    table(['system', 'size', 'bytes', 'vs text', 'time (s)', 'largest tables'], rows),
    '',
  ];
  const lg = results.langgraph;
  const keel = results.keel;
  if (typeof lg.bytes === 'number' && typeof keel.bytes === 'number') {
    const ratio = keel.bytes / lg.bytes;
    out.push(`Keel / LangGraph: **${fmt(ratio * 100, 1)} %** (target ≤ 10 %: ${verdict(ratio <= 0.1)})`);
  } else {
    out.push(`Keel / LangGraph: ${problem(keel) ? `Keel ${problem(keel)}` : `LangGraph ${problem(lg)}`}`);
  }
  return { markdown: out.join('\n'), results };
}

async function benchRecovery() {
  const script = join(BENCH, 'recovery', 'measure.js');
  const results = {
    keel: await runChild(script, ['keel'], { timeoutMs: 120_000 }),
    dbos: await runChild(script, ['dbos'], { timeoutMs: 90_000 }),
  };
  const k = results.keel;
  const d = results.dbos;
  const s = (ms) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(2)} s` : '–');
  const keelRow = problem(k)
    ? ['Keel', problem(k), '', '', '', '']
    : [
        'Keel',
        s(k.leaseMs),
        s(k.leaseRemainingAtKillMs),
        s(k.reclaimMs),
        s(k.firstStepMs),
        `${k.finalStatus}, attempts ${k.attempts}`,
      ];
  const dbosRow = problem(d)
    ? ['DBOS Transact', problem(d), '', '', '', '']
    : [
        'DBOS Transact',
        'none (executor id)',
        '',
        d.recoveredByOther
          ? 'recovered by another executor'
          : `never by another executor (watched ${s(d.watchedMs)})`,
        `only when a process with the dead one's executor id starts: ${s(d.restartRecoveryMs)} after its spawn`,
        '',
      ];
  const out = [
    '## (c) Recovery after SIGKILL of a worker',
    '',
    'Worker A claims a run and starts its slow tool; worker B is up and idle; A gets SIGKILL. ' +
      'Times from the kill until B reclaims the run (fencing token moves) and until B writes its first journal entry.',
    '',
    table(
      ['system', 'lease', 'lease left at kill', 'kill → reclaim', 'kill → first journal entry', 'run'],
      [keelRow, dbosRow],
    ),
    '',
  ];
  if (typeof k.reclaimMs === 'number') {
    const worst = Math.max(k.reclaimMs, k.firstStepMs);
    const ok = k.leaseMs <= 10_500 && worst <= k.leaseMs + 1000;
    out.push(
      `Keel: ${s(worst)} to resume with a ${s(k.leaseMs)} lease (target ≤ lease + 1 s, lease ≤ 10 s: ${verdict(ok)})`,
    );
  } else {
    out.push(`Keel: ${problem(k) ?? 'no figure'}`);
  }
  return { markdown: out.join('\n'), results };
}

async function main() {
  const asked = process.argv.slice(2);
  const which = asked.length ? asked : ALL;
  const unknown = which.filter((w) => !ALL.includes(w));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${ALL.join(', ')}`);
    process.exit(2);
  }
  installIfMissing();
  const { BASE_URL, dropDatabase, listBenchDatabases } = await import('./lib/db.js');
  let leftovers;
  try {
    leftovers = await listBenchDatabases();
  } catch (error) {
    console.error(
      `Cannot reach Postgres at ${BASE_URL} (${error.message}). Start it or set KEEL_BENCH_POSTGRES_URL.`,
    );
    process.exit(1);
  }
  for (const db of leftovers) await dropDatabase(db);

  const started = Date.now();
  const bench = { steps: benchSteps, storage: benchStorage, recovery: benchRecovery };
  const all = {};
  const load = loadavg()[0];
  console.log(`# Keel benchmarks (${new Date().toISOString()}, Node ${process.version})\n`);
  if (load > cpus().length / 2) {
    console.log(
      `> Load average ${load.toFixed(1)} on ${cpus().length} cores at the start: the machine is busy, expect noise.\n`,
    );
  }
  for (const w of which) {
    const { markdown, results } = await bench[w]();
    all[w] = results;
    console.log(`${markdown}\n`);
  }
  console.log(
    `_${((Date.now() - started) / 1000).toFixed(0)} s in all. Figures vary ±10 % run to run: compare within one run._`,
  );

  mkdirSync(join(BENCH, 'results'), { recursive: true });
  const file = join(BENCH, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);

  const failed = Object.values(all).flatMap((r) => Object.values(r).filter((x) => x.error));
  if (failed.length) {
    console.error(`${failed.length} measurement(s) failed; see the tables above and ${file}`);
    process.exitCode = 1;
  }
}

await main();
