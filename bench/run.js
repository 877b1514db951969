#!/usr/bin/env node
// Keel's benchmarks against its peers, run one after the other, printed as markdown tables.
//
//   npm run bench                      (at the root: builds Keel, then runs this)
//   node bench/run.js [steps] [storage] [recovery] [gateway] [coding-session] [api] [analytics] [guards] [evals] [hot-limits]    (a subset; Keel must be built)
//
// Each system runs in a child process of its own, in a database of its own on the local
// Postgres (KEEL_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres), named
// with this run's id (lib/db.js) and dropped afterwards: runs at once keep out of each other's
// way. The gateway benchmarks need Postgres only for Keel's gateway store (they fall back to the
// embedded one). Results also go to bench/results/<time>.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { runChild } from './lib/child.js';
import { median } from './lib/stats.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ALL = [
  'steps',
  'storage',
  'recovery',
  'gateway',
  'coding-session',
  'api',
  'analytics',
  'guards',
  'evals',
  'hot-limits',
];
/** Benchmarks that cannot run without the local Postgres. */
const NEED_POSTGRES = ['steps', 'storage', 'recovery', 'api', 'analytics', 'hot-limits'];
/** One package per peer: when one is missing, bench/node_modules is out of date. */
const PEER_PACKAGES = ['@dbos-inc/dbos-sdk', '@langchain/langgraph', '@portkey-ai/gateway', 'undici'];
const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 3);

function installIfMissing() {
  if (PEER_PACKAGES.every((p) => existsSync(join(BENCH, 'node_modules', p, 'package.json')))) return;
  console.error(
    'bench/node_modules is missing or out of date: installing the peers (npm ci --prefix bench)...',
  );
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
    if (bad) return [label, bad, '', '', '', '', '', ''];
    return [
      label,
      fmt(r.msPerStep),
      fmt(r.queriesPerStep, 1),
      fmt(r.queriesPerRun0, 0),
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
      'SQL round trips: node-postgres query calls per step (N = 50 minus N = 0, over the 100 steps between them) ' +
      'and per run at N = 0 (submit to end, one step), counted untimed. ' +
      'The floor is one autocommitted INSERT per step: when it reads well above ~0.4 ms, the machine is busy.',
    '',
    table(
      [
        'system',
        'ms per durable step',
        'SQL round trips per step',
        'SQL round trips per run, N = 0',
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
    if (bad) return [label, bad, '', '', '', '', '', ''];
    const top = r.tables
      .slice(0, 3)
      .map((t) => `${t.table} ${size(t.bytes)}`)
      .join(', ');
    const written = r.bytes - r.emptyBytes;
    return [
      label,
      size(r.bytes),
      r.bytes,
      size(r.emptyBytes),
      size(written),
      `${fmt(written / r.textBytes, 1)}x`,
      fmt(r.seconds, 1),
      top,
    ];
  });
  const out = [
    '## (b) Storage of a 500-turn conversation',
    '',
    `Each turn: a user message, a model call asking for one tool call, the tool result, a model reply; ` +
      `${text ? kib(text) : '293 KiB'} of text in all. Bytes = pg_total_relation_size (heap, TOAST, ` +
      'indexes) summed over the tables the system uses, in a database of its own. "Empty schema" is ' +
      'that sum measured before the first turn (the tables, indexes and TOAST tables every database ' +
      'of the system has, used or not: a fixed cost, not per conversation); "written" = size − empty ' +
      'schema, what the conversation added.',
    '',
    table(
      ['system', 'size', 'bytes', 'empty schema', 'written', 'written vs text', 'time (s)', 'largest tables'],
      rows,
    ),
    '',
  ];
  const floor = results.floor;
  const keel = results.keel;
  if (!problem(keel) && typeof keel.bytes === 'number') {
    const target = 1.2 * 1024 * 1024;
    const written = keel.bytes - keel.emptyBytes;
    out.push(
      `Keel: ${size(keel.bytes)} in all (target ≤ 1.2 MiB: ${verdict(keel.bytes <= target)}), ` +
        `${size(written)} written (≤ 1.2 MiB: ${verdict(written <= target)})` +
        (typeof floor?.bytes === 'number' && !problem(floor)
          ? `; written / the floor's written: **${fmt(written / (floor.bytes - floor.emptyBytes), 2)}x**`
          : ''),
    );
  }
  const lg = results.langgraph;
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
    // A dead process is recovered through its liveness lock, not its lease: the lease stays the
    // default (it still governs stalled and partitioned workers) and recovery must not wait for it.
    const worst = Math.max(k.reclaimMs, k.firstStepMs);
    const ok = k.leaseMs >= 4_500 && worst <= 1000;
    out.push(
      `Keel: ${s(worst)} to resume with the ${s(k.leaseMs)} lease unchanged (${((100 * worst) / k.leaseMs).toFixed(0)} % of it; ` +
        `target ≤ 1 s with the default 5 s lease: ${verdict(ok)})`,
    );
  } else {
    out.push(`Keel: ${problem(k) ?? 'no figure'}`);
  }
  return { markdown: out.join('\n'), results };
}

/** Milliseconds: 2 decimals below 10 ms, 1 above; `signed` adds a + to positive values. */
function ms(x, signed = false) {
  if (typeof x !== 'number' || Number.isNaN(x)) return '–';
  const text = x.toFixed(Math.abs(x) < 10 ? 2 : 1);
  return signed && x >= 0 ? `+${text}` : text;
}
const rps = (x) => (typeof x === 'number' ? Math.round(x).toLocaleString('en-US') : '–');

async function benchGateway() {
  const seconds = Number(process.env.KEEL_BENCH_GATEWAY_SECONDS ?? 5);
  const warmup = Number(process.env.KEEL_BENCH_GATEWAY_WARMUP ?? 1);
  const prewarm = Number(process.env.KEEL_BENCH_GATEWAY_PREWARM ?? 1.5);
  // 24 cells (4 systems × 2 modes × 3 concurrencies) of warm-up + seconds, 8 pre-warm cells,
  // each with its load generator's start, plus start-up: generous, for a machine others load.
  const got = await runChild(join(BENCH, 'gateway', 'measure.js'), [], {
    timeoutMs: (24 * (seconds + warmup + 10) + 8 * (prewarm + 10) + 180) * 1000,
  });
  if (!got.systems) {
    return {
      markdown: `## (d) Gateway overhead\n\n${problem(got) ?? 'no result'}`,
      results: { measure: got },
    };
  }
  const { systems, concurrency } = got;
  const keys = ['direct', 'bare', 'portkey', 'keel'].filter((k) => systems[k]);
  const direct = systems.direct;
  const cell = (key, mode, c) => systems[key]?.[mode]?.[c];
  const label = (key) => systems[key].system ?? key;
  const added = (key, mode, c, pick) => {
    const mine = cell(key, mode, c);
    const base = direct?.[mode]?.[c];
    if (key === 'direct' || !mine?.latency || !base?.latency) return undefined;
    return pick(mine) - pick(base);
  };
  const cellProblem = (r) => (r ? problem(r) : 'not measured');
  const cpu = (r) =>
    typeof r.cpuUsPerRequest === 'number' ? Math.round(r.cpuUsPerRequest).toLocaleString('en-US') : '–';
  const errorsOf = (r) => (r.errors ? `${r.errors}: ${(r.errorSample ?? '').slice(0, 80)}` : '0');

  const jsonRows = [];
  const streamRows = [];
  for (const c of concurrency) {
    for (const key of keys) {
      const sys = systems[key];
      const bad = problem(sys);
      if (bad) {
        jsonRows.push([c, label(key), bad, '', '', '', '', '', '']);
        streamRows.push([c, label(key), bad, '', '', '', '', '', '', '', '', '', '']);
        continue;
      }
      const j = cell(key, 'json', c);
      const jBad = !j?.latency && cellProblem(j);
      jsonRows.push(
        jBad
          ? [c, label(key), jBad, '', '', '', '', '', '']
          : [
              c,
              label(key),
              rps(j.rps),
              cpu(j),
              ms(j.latency.p50),
              ms(j.latency.p99),
              ms(
                added(key, 'json', c, (r) => r.latency.p50),
                true,
              ),
              ms(
                added(key, 'json', c, (r) => r.latency.p99),
                true,
              ),
              errorsOf(j),
            ],
      );
      const st = cell(key, 'stream', c);
      const sBad = !st?.latency && cellProblem(st);
      streamRows.push(
        sBad
          ? [c, label(key), sBad, '', '', '', '', '', '', '', '', '', '']
          : [
              c,
              label(key),
              rps(st.rps),
              cpu(st),
              ms(st.ttfb.p50),
              ms(st.ttfb.p99),
              ms(
                added(key, 'stream', c, (r) => r.ttfb.p50),
                true,
              ),
              ms(
                added(key, 'stream', c, (r) => r.ttfb.p99),
                true,
              ),
              ms(st.latency.p50),
              ms(st.latency.p99),
              ms(
                added(key, 'stream', c, (r) => r.latency.p50),
                true,
              ),
              ms(
                added(key, 'stream', c, (r) => r.latency.p99),
                true,
              ),
              errorsOf(st),
            ],
      );
    }
  }
  const mem = (m) => (m ? mib(m.rss) : '–');
  const memoryRows = keys.map((key) => {
    const sys = systems[key];
    const bad = problem(sys);
    if (bad || !sys.memory) return [label(key), bad ?? '–', '', '', ''];
    const m = sys.memory;
    return [label(key), mem(m.idle), mem(m.json), mem(m.stream), m.peak ? mib(m.peak) : '–'];
  });

  const out = [
    '## (d) Gateway overhead',
    '',
    `OpenAI-style \`POST /v1/chat/completions\` (~300 B request) to a mock upstream (node:http, precomputed ` +
      'replies: a 380 B JSON, or 8 SSE events with usage and [DONE]), straight ("direct") and through each ' +
      `gateway, one process each on this ${got.cpus}-core machine (load generator, gateway, mock: they share the cores). ` +
      `Closed loop, C keep-alive connections (undici, pipelining 1), ${warmup} s warm-up + ${seconds} s per cell, ` +
      'cells in rotating order. Latency in ms; added = through the gateway minus direct at the same concurrency ' +
      '(at high concurrency it is mostly queueing, i.e. throughput). Streaming: TTFB = first body byte (first SSE event). ' +
      "CPU µs/req = the system's own process CPU time (user + system) over the cell, warm-up included, per answer " +
      "(direct: the mock's): it moves far less than req/s when other work shares the cores.",
    '',
    '### Non-streaming',
    '',
    table(['C', 'system', 'req/s', 'CPU µs/req', 'p50', 'p99', 'added p50', 'added p99', 'errors'], jsonRows),
    '',
    '### Streaming',
    '',
    table(
      [
        'C',
        'system',
        'req/s',
        'CPU µs/req',
        'TTFB p50',
        'TTFB p99',
        'added TTFB p50',
        'added TTFB p99',
        'total p50',
        'total p99',
        'added total p50',
        'added total p99',
        'errors',
      ],
      streamRows,
    ),
    '',
    '### Memory (resident set size of the process)',
    '',
    table(
      ['system', 'idle, before load', 'after non-streaming load', 'after streaming load', 'peak'],
      memoryRows,
    ),
    '',
  ];

  const keel = systems.keel;
  const portkey = systems.portkey;
  const keelBad = keel ? problem(keel) : 'not run';
  const modeName = { json: 'non-streaming', stream: 'streaming' };
  // The same ratio read from CPU time per request (theirs / ours), for a machine others load.
  const cpuRatio = (theirs, ours) =>
    typeof theirs.cpuUsPerRequest === 'number' && typeof ours.cpuUsPerRequest === 'number'
      ? `; by CPU time per request: ${fmt(theirs.cpuUsPerRequest / ours.cpuUsPerRequest)}x`
      : '';
  out.push('Targets:', '');
  if (keelBad) {
    out.push(`- Keel: ${keelBad}; targets not evaluated.`);
  } else {
    const lowest = Math.min(...concurrency);
    const c64 = concurrency.includes(64) ? 64 : undefined;
    for (const [mode, pick, what] of [
      ['json', (r) => r.latency.p50, 'added p50'],
      ['stream', (r) => r.ttfb.p50, 'added TTFB p50'],
    ]) {
      const a = added('keel', mode, lowest, pick);
      out.push(
        `- Keel ${what}, ${modeName[mode]}, concurrency ${lowest}: **${ms(a)} ms** ` +
          `(target ≤ 0.5 ms: ${typeof a === 'number' ? verdict(a <= 0.5) : 'no figure'})`,
      );
    }
    if (c64 && portkey && !problem(portkey)) {
      for (const mode of ['json', 'stream']) {
        const k = cell('keel', mode, 64);
        const p = cell('portkey', mode, 64);
        if (!k?.latency || !p?.latency) {
          out.push(`- Keel vs Portkey, ${modeName[mode]}, concurrency 64: no figure`);
          continue;
        }
        const ratio = k.rps / p.rps;
        const byCpu = cpuRatio(p, k);
        const pick = mode === 'json' ? (r) => r.latency.p99 : (r) => r.ttfb.p99;
        const ka = added('keel', mode, 64, pick);
        const pa = added('portkey', mode, 64, pick);
        const floor = mode === 'json' ? 5 : 1.5;
        out.push(
          `- Keel / Portkey throughput, ${modeName[mode]}, concurrency 64: **${fmt(ratio)}x** ` +
            `(target ≥ ${floor}x: ${verdict(ratio >= floor)})${byCpu}`,
          `- Keel ${mode === 'json' ? 'added p99' : 'added TTFB p99'}, ${modeName[mode]}, concurrency 64: ` +
            `**${ms(ka)} ms** vs Portkey ${ms(pa)} ms (target ≤ Portkey: ${verdict(ka <= pa)})`,
        );
      }
    } else {
      out.push(`- Keel vs Portkey at concurrency 64: ${portkey ? problem(portkey) : 'Portkey not run'}`);
    }
    const bare = systems.bare;
    const kJson = c64 && cell('keel', 'json', 64);
    const bJson = c64 && !problem(bare ?? {}) && cell('bare', 'json', 64);
    if (kJson?.latency && bJson?.latency) {
      const ratio = kJson.rps / bJson.rps;
      out.push(
        `- Keel / bare Node proxy throughput, non-streaming, concurrency 64: **${fmt(ratio)}x** ` +
          `(target ≥ 0.6x: ${verdict(ratio >= 0.6)})${cpuRatio(bJson, kJson)}`,
      );
    } else {
      out.push(`- Keel / bare Node proxy, non-streaming, concurrency 64: no figure`);
    }
    const kStream = c64 && cell('keel', 'stream', 64);
    if (kJson?.latency && kStream?.latency) {
      const ratio = kStream.rps / kJson.rps;
      out.push(
        `- Keel streaming / Keel non-streaming throughput, concurrency 64: **${fmt(ratio)}x** ` +
          `(target ≥ 0.8x: ${verdict(ratio >= 0.8)})${cpuRatio(kJson, kStream)}`,
      );
    }
  }
  if (got.loadavg.end > got.cpus / 2 || got.loadavg.start > got.cpus / 2) {
    out.push(
      '',
      `> Load average ${fmt(got.loadavg.start, 1)} → ${fmt(got.loadavg.end, 1)} on ${got.cpus} cores: ` +
        'this benchmark loads the machine itself; far above ~3 means something else ran too.',
    );
  }
  const settings = Object.fromEntries(Object.entries(got).filter(([k]) => k !== 'systems'));
  return { markdown: out.join('\n'), results: { ...systems, settings } };
}

async function benchCodingSession() {
  const seconds = Number(process.env.KEEL_BENCH_SESSION_SECONDS ?? 5);
  const warmup = Number(process.env.KEEL_BENCH_SESSION_WARMUP ?? 1);
  const prewarm = Number(process.env.KEEL_BENCH_SESSION_PREWARM ?? 1.5);
  // 8 cells (4 systems × 2 concurrencies) and 4 pre-warm cells, each with its load generator's
  // start, plus start-up and each system's check replay: generous, for a machine others load.
  const got = await runChild(join(BENCH, 'coding-session', 'measure.js'), [], {
    timeoutMs: (8 * (seconds + warmup + 10) + 4 * (prewarm + 10) + 180) * 1000,
  });
  const title = '## Gateways under a recorded Claude Code session';
  if (!got.systems)
    return { markdown: `${title}\n\n${problem(got) ?? 'no result'}`, results: { measure: got } };
  const { systems, concurrency, session } = got;
  const keys = ['direct', 'bare', 'portkey', 'keel'].filter((k) => systems[k]);
  const label = (key) => systems[key].system ?? key;
  const cell = (key, c) => systems[key]?.cells?.[c];
  const added = (key, c, pick) => {
    const mine = cell(key, c);
    const base = cell('direct', c);
    if (key === 'direct' || !mine?.requests || !base?.requests) return undefined;
    return pick(mine) - pick(base);
  };
  const cpu = (r) =>
    typeof r.cpuUsPerRequest === 'number' ? Math.round(r.cpuUsPerRequest).toLocaleString('en-US') : '–';
  const rows = [];
  for (const c of concurrency) {
    for (const key of keys) {
      const r = cell(key, c);
      const bad =
        problem(systems[key]) ??
        (!r
          ? 'not measured'
          : !r.requests
            ? (problem(r) ??
              `no answer in the window; ${r.errors} errors: ${(r.errorSample ?? '').slice(0, 100)}`)
            : undefined);
      if (bad) {
        rows.push([c, label(key), bad, '', '', '', '', '', '', '', '']);
        continue;
      }
      rows.push([
        c,
        label(key),
        rps(r.rps),
        cpu(r),
        ms(r.ttfb.p50),
        ms(r.latency.p50),
        ms(r.latency.p95),
        ms(
          added(key, c, (x) => x.ttfb.p50),
          true,
        ),
        ms(
          added(key, c, (x) => x.latency.p50),
          true,
        ),
        ms(
          added(key, c, (x) => x.latency.p95),
          true,
        ),
        r.errors ? `${r.errors}: ${(r.errorSample ?? '').slice(0, 80)}` : '0',
      ]);
    }
  }
  const out = [
    title,
    '',
    `The Messages requests of a real Claude Code ${session.claudeCode} session (\`claude -p\` in its default mode: ` +
      'extended thinking, its betas, context management, cache_control; coding-session/session.json, re-recorded by ' +
      'coding-session/record.js) ' +
      `fixing a bug in a small project: ${session.requests} requests of ${kib(session.requestBytes.min)} to ` +
      `${kib(session.requestBytes.max)} (system prompt, tool definitions, growing history with thinking, tool ` +
      'calls and results), each replayed with its exact body, headers and query, streamed. The fake ' +
      `Anthropic upstream answers each turn with the recorded answer (${session.answerEvents} events, ` +
      `${kib(session.answerBytes)} in all: thinking, text, tool calls). Closed loop, C keep-alive connections, ` +
      'each walking the session round from its own starting turn, ' +
      `${warmup} s warm-up + ${seconds} s per cell. Keel: \`keel gateway\`, \`POST /v1/messages\` to an ` +
      'Anthropic deployment; Portkey: `/v1/messages`, provider `anthropic`; the bare proxy forwards the bytes. ' +
      'Latency in ms to the last byte (TTFB: first body byte); added = through the gateway minus direct at the same C. ' +
      "CPU µs/req = the system's own process CPU time over the cell, warm-up included, per answer (direct: the upstream's).",
    '',
    table(
      [
        'C',
        'system',
        'req/s',
        'CPU µs/req',
        'TTFB p50',
        'p50',
        'p95',
        'added TTFB p50',
        'added p50',
        'added p95',
        'errors',
      ],
      rows,
    ),
    '',
  ];
  const top = Math.max(...concurrency);
  const measured = (key) => (cell(key, top)?.requests ? cell(key, top) : undefined);
  const k = measured('keel');
  const p = measured('portkey');
  const b = measured('bare');
  if (k && p)
    out.push(
      `Keel / Portkey at C = ${top}: **${fmt(k.rps / p.rps)}x** req/s` +
        (typeof k.cpuUsPerRequest === 'number' && typeof p.cpuUsPerRequest === 'number'
          ? `; CPU per request Keel / Portkey: ${fmt(k.cpuUsPerRequest / p.cpuUsPerRequest)}x`
          : ''),
    );
  if (k && b) out.push('', `Keel / bare proxy at C = ${top}: **${fmt(k.rps / b.rps)}x** req/s`);
  if (out.at(-1) !== '') out.push('');
  out.push(
    `Load average ${fmt(got.loadavg.start, 1)} → ${fmt(got.loadavg.end, 1)} on ${got.cpus} cores` +
      (got.loadavg.start > got.cpus / 2
        ? ': the machine was busy, read the CPU column rather than req/s.'
        : '.'),
  );
  const settings = Object.fromEntries(Object.entries(got).filter(([key]) => key !== 'systems'));
  return { markdown: out.join('\n'), results: { ...systems, settings } };
}

async function benchAnalytics() {
  // Seeding 100,000 runs and 1,000,000 steps takes 15-60 s, then about 7 queries × 17 runs.
  const got = await runChild(join(BENCH, 'analytics', 'measure.js'), [], { timeoutMs: 900_000 });
  if (!got.markdown)
    return { markdown: `## (f) Analytics\n\n${problem(got) ?? 'no result'}`, results: { measure: got } };
  const { markdown, ...results } = got;
  return { markdown, results };
}

async function benchGuards() {
  // In-process heuristics only (no database): about 10 s.
  const got = await runChild(join(BENCH, 'guards', 'overhead.js'), [], { timeoutMs: 300_000 });
  if (!got.markdown)
    return {
      markdown: `## (g) Guard pipeline overhead\n\n${problem(got) ?? 'no result'}`,
      results: { measure: got },
    };
  const { markdown, ...results } = got;
  return { markdown, results };
}

async function benchEvals() {
  // 200 cases × 2 systems × 2 concurrencies × 3 rounds per store, PGlite and Postgres: about 5
  // minutes on an idle 2-core machine, far more under load. Postgres is optional (its row then
  // reads "not available").
  const got = await runChild(join(BENCH, 'evals', 'measure.js'), [], { timeoutMs: 3_600_000 });
  if (!got.markdown)
    return {
      markdown: `## (h) Eval throughput and harness overhead\n\n${problem(got) ?? 'no result'}`,
      results: { measure: got },
    };
  const { markdown, ...results } = got;
  return { markdown, results };
}

async function benchApi() {
  const seconds = Number(process.env.KEEL_BENCH_API_SECONDS ?? 4);
  const warmup = Number(process.env.KEEL_BENCH_API_WARMUP ?? 1);
  // Up to 2 stores × 2 worker counts of Keel plus DBOS, 2 cells each, plus start-up.
  const got = await runChild(join(BENCH, 'api', 'measure.js'), [], {
    timeoutMs: (10 * (seconds + warmup + 10) + 120) * 1000,
  });
  if (!got.systems) {
    return {
      markdown: `## (e) Runs through the API\n\n${problem(got) ?? 'no result'}`,
      results: { measure: got },
    };
  }
  const { systems, concurrency } = got;
  const top = Math.max(...concurrency);
  const low = Math.min(...concurrency);
  const rpsAt = (r, c) => r?.cells?.[c]?.rps;
  // Per store, the worker count with the most runs/s at the highest concurrency.
  const best = (store) => {
    const all = Object.values(systems).filter((r) => r.store === store);
    const ok = all.filter((r) => typeof rpsAt(r, top) === 'number');
    return ok.sort((a, b) => rpsAt(b, top) - rpsAt(a, top))[0] ?? all[0];
  };
  const picked = [best('pglite'), best('postgres'), systems.dbos].filter(Boolean);
  const label = (r) =>
    r === systems.dbos
      ? `${r.system ?? 'DBOS Transact (queue)'} (Postgres)`
      : `${r.system ?? `Keel (${r.store})`}${r.workers ? `, ${r.workers} workers` : ''}`;
  const rows = [];
  for (const r of picked) {
    const bad = problem(r);
    if (bad) {
      rows.push([label(r), '', bad, '', '', '', '', '', '']);
      continue;
    }
    for (const c of concurrency) {
      const cell = r.cells?.[c];
      const cellBad = !cell ? 'not measured' : !cell.db ? (problem(cell) ?? 'no runs') : undefined;
      if (cellBad) {
        rows.push([label(r), c, cellBad, '', '', '', '', '', '']);
        continue;
      }
      const { db } = cell;
      rows.push([
        label(r),
        c,
        fmt(cell.rps, 1),
        ms(db.firstStep.p50),
        ms(db.firstStep.p99),
        ms(db.completed.p50),
        ms(db.completed.p99),
        ms(cell.clientLatency.p50),
        cell.errors
          ? `${cell.errors}: ${(cell.errorSample ?? '').slice(0, 80)}`
          : db.odd
            ? `${db.odd} odd runs`
            : '0',
      ]);
    }
  }
  const workerRows = Object.values(systems)
    .filter((r) => r.store)
    .map((r) => [
      label(r),
      ...concurrency.map((c) => (problem(r) ? problem(r) : fmt(rpsAt(r, c), 1))),
      ...concurrency.map((c) => ms(r.cells?.[c]?.db?.firstStep.p50)),
    ]);
  const out = [
    '## (e) Runs through the API: submit → completed',
    '',
    'A 3-step agent (instant model asks for a no-op tool once, then answers: model, tool, model), submitted ' +
      'by C closed-loop submitters (each submits, waits until its run completed, submits the next), ' +
      `${warmup} s warm-up + ${seconds} s per cell after ${got.prewarmSeconds} s of untimed load. ` +
      'Keel: `keel serve --workers N` (the better N of ' +
      `${got.workers.join(', ')} by runs/s at C = ${top}; all below), load from another process: ` +
      '`POST /v1/runs?wait=30` (answered when the run-end notification arrives). DBOS: a queue (`DBOS.registerQueue`, ' +
      `dispatch poll ${got.dbosQueuePollMs} ms, DBOS's default is 1 s; no concurrency limit), enqueued from its own process, ` +
      `completion read from \`workflow_status\` at once and then every ${got.dbosQueuePollMs} ms ` +
      "(DBOS's `getResult` polls every 1 s). runs/s = runs submitted in the window and completed, over the window. " +
      'Latencies from the database after the load (run created → first step started → run ended; ' +
      'client = submit → the submitter learns of completion, polling included). Times in ms.',
    '',
    table(
      [
        'system',
        'C',
        'runs/s',
        'submit → first step p50',
        'p99',
        'submit → completed p50',
        'p99',
        'client p50',
        'errors',
      ],
      rows,
    ),
    '',
    `Keel worker counts: runs/s at C = ${concurrency.join(', ')}, then submit → first step p50 (ms):`,
    '',
    table(
      [
        'system',
        ...concurrency.map((c) => `runs/s C=${c}`),
        ...concurrency.map((c) => `first step p50 C=${c}`),
      ],
      workerRows,
    ),
    '',
    'Targets:',
    '',
  ];
  const kp = best('postgres');
  const dbos = systems.dbos;
  if (kp && typeof rpsAt(kp, top) === 'number' && dbos && typeof rpsAt(dbos, top) === 'number') {
    const ratio = rpsAt(kp, top) / rpsAt(dbos, top);
    out.push(
      `- Keel (Postgres) / DBOS runs/s at C = ${top}: **${fmt(ratio)}x** ` +
        `(${fmt(rpsAt(kp, top), 1)} vs ${fmt(rpsAt(dbos, top), 1)}; target ≥ 1x: ${verdict(ratio >= 1)})`,
    );
  } else {
    out.push(
      `- Keel (Postgres) vs DBOS runs/s: no figure (${problem(kp ?? {}) ?? problem(dbos ?? {}) ?? 'missing'})`,
    );
  }
  const firstStep = (system, c) => system?.cells?.[c]?.db?.firstStep.p50;
  const lowP50 = firstStep(kp, low);
  out.push(
    `- Keel (Postgres) submit → first step p50 at C = ${low}: **${ms(lowP50)} ms** ` +
      `(target < 10 ms: ${typeof lowP50 === 'number' ? verdict(lowP50 < 10) : 'no figure'})`,
  );
  if (top !== low) {
    // A closed loop of `top` submitters runs the machine flat out: a run waits for a free worker
    // (and CPU) before its first step, in any system. Shown for context, beside DBOS's.
    out.push(
      `- At C = ${top} (closed loop at full load, runs queue for workers and CPU): submit → first step p50 ` +
        `Keel ${ms(firstStep(kp, top))} ms, DBOS ${ms(firstStep(dbos, top))} ms`,
    );
  }
  if (got.loadavg.end > got.cpus / 2 || got.loadavg.start > got.cpus / 2) {
    out.push(
      '',
      `> Load average ${fmt(got.loadavg.start, 1)} → ${fmt(got.loadavg.end, 1)} on ${got.cpus} cores: ` +
        'this benchmark loads the machine itself; far above ~3 means something else ran too.',
    );
  }
  const settings = Object.fromEntries(Object.entries(got).filter(([k]) => k !== 'systems'));
  return { markdown: out.join('\n'), results: { ...systems, settings } };
}

async function benchHotLimits() {
  const systems = ['floor', 'redis', 'postgres'];
  const loadStart = loadavg()[0];
  const results = {};
  for (const s of systems)
    results[s] = await runChild(join(BENCH, 'hot-limits', 'measure.js'), [s], { timeoutMs: 120_000 });
  const loadEnd = loadavg()[0];
  const labels = {
    floor: 'floor: raw Redis INCR',
    redis: 'Keel, Redis limiter',
    postgres: 'Keel, SQL limiter (Postgres)',
  };
  const floor = results.floor.perSecond;
  const rows = systems.map((s) => {
    const r = results[s];
    const bad = problem(r);
    if (bad) return [labels[s], bad, ''];
    return [labels[s], fmt(r.perSecond, 0), floor ? `${fmt(r.perSecond / floor, 2)}x` : '–'];
  });
  const concurrency = Object.values(results).find((r) => r.concurrency)?.concurrency ?? 64;
  const out = [
    '## Hot rate-limit scope: reservations per second',
    '',
    `One scope, ${concurrency} concurrent reserve loops in one process (one Redis connection; a pool of 10 ` +
      'on Postgres), each reserve a request and 10 tokens, limits never reached. The floor is a raw INCR ' +
      'on the same client at the same concurrency: one round trip, no script.',
    '',
    table(['system', 'reservations/s', 'vs floor'], rows),
    '',
  ];
  const redis = results.redis.perSecond;
  const postgres = results.postgres.perSecond;
  if (typeof redis === 'number') {
    out.push(`Redis limiter: **${fmt(redis, 0)}/s** (target ≥ 20,000/s: ${verdict(redis >= 20_000)})`);
    if (typeof postgres === 'number') out.push('', `Redis / Postgres: **${fmt(redis / postgres, 1)}x**`);
  }
  out.push('', `Load average ${fmt(loadStart, 1)} → ${fmt(loadEnd, 1)} on ${cpus().length} cores.`);
  return { markdown: out.join('\n'), results: { ...results, loadavg: { start: loadStart, end: loadEnd } } };
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
  // This run's databases carry its id (lib/db.js), which its children inherit: a run drops its
  // own when it ends, and at start only those of runs over an hour old whose process is gone.
  const { BASE_URL, RUN_ID, dropDatabase, runDatabases, staleDatabases } = await import('./lib/db.js');
  process.env.KEEL_BENCH_RUN_ID = RUN_ID;
  let postgres = true;
  let stale = [];
  try {
    stale = await staleDatabases();
  } catch (error) {
    postgres = false;
    const message = `Cannot reach Postgres at ${BASE_URL} (${error.message}).`;
    if (which.some((w) => NEED_POSTGRES.includes(w))) {
      console.error(`${message} Start it or set KEEL_BENCH_POSTGRES_URL.`);
      process.exit(1);
    }
    console.error(`${message} Keel's gateway will use its embedded store.`);
  }
  for (const db of stale) await dropDatabase(db);
  const dropOwn = async () => {
    if (postgres) for (const db of await runDatabases()) await dropDatabase(db);
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      void dropOwn()
        .catch(() => {})
        .finally(() => process.exit(130));
    });
  }

  const started = Date.now();
  const bench = {
    steps: benchSteps,
    storage: benchStorage,
    recovery: benchRecovery,
    gateway: benchGateway,
    'coding-session': benchCodingSession,
    api: benchApi,
    analytics: benchAnalytics,
    guards: benchGuards,
    evals: benchEvals,
    'hot-limits': benchHotLimits,
  };
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

  // What a child could not drop (killed, crashed).
  await dropOwn().catch((error) => console.error(`dropping this run's databases: ${error.message}`));

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
