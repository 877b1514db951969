// The peer of the eval benchmark: promptfoo's Node API (`evaluate`) running the same 200
// travel-planner cases, in a child process of its own:
//
//   node bench/evals/promptfoo.js <pglite|postgres> <location> <promptfoo folder>
//
// promptfoo has no agent runtime: its provider here is a function that runs the case through
// Keel's bare `runAgent` (the same work as the floor) and reads the run's steps back, so that a
// javascript assertion can check the trajectory; its output is the run's output. The other
// assertions are promptfoo's own (`regex`, `contains`, `not-contains`), the same checks as the Keel
// suite's. `writeLatestResults: true`: promptfoo records the eval and every result in its local
// database (libSQL, in a temporary PROMPTFOO_CONFIG_DIR), as Keel's harness records in its store;
// telemetry, update checks and the provider cache are off. The floor is measured in the same
// process, alternating with promptfoo: bare `runAgent` over the same inputs, C at a time. So
// promptfoo's overhead = promptfoo − floor, on the same footing as Keel's (measure.js).
//
// promptfoo is not a bench dependency (718 packages, 1.9 GB, and its latest releases need Node 22):
// install it apart (bench/README.md, "The eval benchmark (h)") and give its folder in
// KEEL_BENCH_PROMPTFOO_DIR.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { childMain } from '../lib/child.js';
import { loadKeel, KeelUnavailableError } from '../lib/keel.js';
import { measureRounds } from './rounds.js';
import { trip } from './suite.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CASES = Number(process.env.KEEL_BENCH_EVAL_CASES ?? 200);
const WARMUP_CASES = 20;

/** The tool calls a run's model steps asked for, in order: { name, arguments }. */
function toolCalls(steps) {
  const calls = [];
  for (const step of steps) {
    if (step.kind !== 'model') continue;
    for (const call of step.output?.message?.toolCalls ?? [])
      calls.push({ name: call.name, arguments: JSON.parse(call.arguments || '{}') });
  }
  return calls;
}

/** The Keel suite's strict trajectory, max_steps and stop_reason, as one javascript assertion. */
function trajectoryAssertion({ city, month }) {
  const expected = [
    ['geocode', { city }],
    ['weather', { month }],
    ['places', { city }],
  ];
  return {
    type: 'javascript',
    value: (_output, context) => {
      const { calls, stepCount, status } = context.metadata ?? {};
      const ok =
        status === 'completed' &&
        stepCount <= 7 &&
        calls?.length === expected.length &&
        expected.every(
          ([name, args], i) =>
            calls[i].name === name &&
            Object.entries(args).every(([key, value]) => calls[i].arguments[key] === value),
        );
      return {
        pass: ok,
        score: ok ? 1 : 0,
        reason: ok ? 'trajectory matches' : `trajectory: ${JSON.stringify(calls)}`,
      };
    },
  };
}

function tests(count) {
  return Array.from({ length: count }, (_, index) => {
    const t = trip(index);
    const escaped = t.city.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return {
      description: t.id,
      vars: { input: t.input },
      assert: [
        trajectoryAssertion(t),
        { type: 'regex', value: `^# ${escaped}, .+: ${t.days} days in ${t.month}\\n` },
        { type: 'contains', value: `## Day ${t.days}` },
        { type: 'contains', value: 'not a forecast' },
        { type: 'not-contains', value: `## Day ${t.days + 1}` },
      ],
    };
  });
}

async function measure([kind, location, promptfooDir]) {
  const entry = join(promptfooDir ?? '', 'node_modules', 'promptfoo', 'dist', 'src', 'index.js');
  if (!promptfooDir || !existsSync(entry))
    throw new KeelUnavailableError(
      `promptfoo is not installed (KEEL_BENCH_PROMPTFOO_DIR: ${promptfooDir ?? 'unset'})`,
    );
  delete process.env.OPENAI_API_KEY;
  delete process.env.KEEL_TRAVEL_MODEL;
  const configDir = mkdtempSync(join(tmpdir(), 'keel-bench-promptfoo-'));
  Object.assign(process.env, {
    PROMPTFOO_CONFIG_DIR: configDir,
    PROMPTFOO_DISABLE_TELEMETRY: '1',
    PROMPTFOO_DISABLE_UPDATE: '1',
    PROMPTFOO_DISABLE_SHARING: '1',
    PROMPTFOO_CACHE_ENABLED: 'false',
    PROMPTFOO_LOG_LEVEL: 'error',
  });
  const { default: promptfoo } = await import(pathToFileURL(entry).href);
  const { version } = JSON.parse(
    readFileSync(join(promptfooDir, 'node_modules', 'promptfoo', 'package.json'), 'utf8'),
  );
  const keel = await loadKeel(['runAgent', 'openStore', 'loadConfig']);
  const { agents } = await keel.loadConfig({
    path: join(ROOT, 'examples', 'travel-planner', 'keel.config.ts'),
  });
  const agent = agents.get('travel-planner');
  if (!agent || typeof agent.model === 'string')
    throw new Error('the travel planner is not on its offline model');
  const { store } = await keel.openStore(
    kind === 'postgres' ? { databaseUrl: location } : { dataDir: location },
  );
  const settings = { logger: keel.silentLogger };
  const run = (input) => keel.runAgent({ ...settings, store, agents: [agent], agent: agent.name, input });

  const provider = {
    id: () => 'keel-travel-planner',
    callApi: async (prompt) => {
      const result = await run(prompt);
      const steps = await store.loadSteps(result.id, { withOutputs: true });
      return {
        output: typeof result.output === 'string' ? result.output : JSON.stringify(result.output),
        metadata: { calls: toolCalls(steps), stepCount: steps.length, status: result.status },
      };
    },
  };
  const suiteOf = (count) => ({
    description: 'bench-travel',
    prompts: ['{{input}}'],
    providers: [provider],
    tests: tests(count),
    writeLatestResults: true,
  });
  const harness = async (concurrency, count = CASES) => {
    const record = await promptfoo.evaluate(suiteOf(count), {
      maxConcurrency: concurrency,
      showProgressBar: false,
      cache: false,
    });
    const { stats, results } = await record.toEvaluateSummary();
    if (stats.successes !== count) {
      const bad = results.find((result) => !result.success);
      throw new Error(
        `promptfoo: ${stats.successes}/${count} tests passed (${stats.failures} failed, ${stats.errors} errors); ` +
          `${bad?.testCase?.description}: ${bad?.error ?? bad?.gradingResult?.reason}`,
      );
    }
  };
  const bare = async (concurrency, count = CASES) => {
    let next = 0;
    const lane = async () => {
      while (next < count) {
        const result = await run(trip(next++).input);
        if (result.status !== 'completed') throw new Error(`bare run ${result.id} ended ${result.status}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  };
  const systems = { bare, harness };
  try {
    for (const name of ['bare', 'harness']) await systems[name](4, WARMUP_CASES);
    const samples = await measureRounds(systems);
    return {
      system: `promptfoo ${version}`,
      store: kind,
      location: kind === 'postgres' ? 'postgres' : location,
      cases: CASES,
      samples,
    };
  } finally {
    await store.close();
    rmSync(configDir, { recursive: true, force: true });
  }
}

await childMain(measure);
