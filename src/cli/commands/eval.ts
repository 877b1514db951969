import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig } from '../../config/load-config.js';
import { createEvalStore, EvalNotFoundError, type EvalStore } from '../../evals/eval-store.js';
import {
  percent,
  renderEvalList,
  renderEvalTable,
  renderHtml,
  renderJunit,
} from '../../evals/eval-report.js';
import {
  compareWithBaseline,
  evalView,
  parseBaseline,
  type BaselineComparison,
  type BaselineSource,
  type EvalView,
} from '../../evals/eval-view.js';
import { createLlmJudge } from '../../evals/llm-judge.js';
import { runEval } from '../../evals/run-eval.js';
import { loadSuite } from '../../evals/suite.js';
import { openGovernance } from '../../governance/open-governance.js';
import { readOtelConfig } from '../../telemetry/otel-config.js';
import { createOtelExport } from '../../telemetry/otel-export.js';
import { createJsonLogger } from '../../util/logger.js';
import { openConfiguredGateway } from '../agent-gateway.js';
import { openBackend, type Backend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../usage-error.js';

export interface EvalCommandOptions {
  suite?: string;
  config?: string;
  agent?: string;
  concurrency?: string;
  trials?: string;
  json: boolean;
  junit?: string;
  html?: string;
  minPassRate?: string;
  baseline?: string;
  tag?: string;
  judgeModel?: string;
  timeoutMs?: string;
}

function wholeNumber(flag: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || parsed < 1 || parsed > max)
    throw new UsageError(`--${flag} must be a whole number from 1 to ${max}; got "${value}".`);
  return parsed;
}

function passRate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0 || parsed > 1)
    throw new UsageError(`--min-pass-rate must be a number from 0 to 1 (0.8 for 80 %); got "${value}".`);
  return parsed;
}

/**
 * `keel eval <suite>`: runs a suite's cases as eval runs on the database (direct: the embedded
 * database or DATABASE_URL), prints the report, writes JUnit and HTML when asked, compares with
 * a baseline and applies the gate: exit 1 when the pass rate is below `--min-pass-rate`, 130
 * when interrupted (the finished results are kept and reported).
 */
export async function evalCommand(options: EvalCommandOptions, io: CliIo): Promise<number> {
  if (!options.suite)
    throw new UsageError(
      'Usage: keel eval <suite.yaml|suite.jsonl|folder> [--agent A] [--concurrency N] [--trials N] ' +
        '[--min-pass-rate 0.8] [--baseline ID|FILE] [--json] [--junit FILE] [--html FILE]',
    );
  const concurrency = wholeNumber('concurrency', options.concurrency, 4, 256);
  const trials = wholeNumber('trials', options.trials, 1, 100);
  const caseTimeoutMs = wholeNumber('timeout-ms', options.timeoutMs, 300_000, 86_400_000);
  const minPassRate = passRate(options.minPassRate);
  readOtelConfig(io.env);
  // The suite and the baseline file are checked before anything slow (config, database).
  let suite = await loadSuite(resolve(io.cwd, options.suite));
  if (options.tag !== undefined) {
    const tag = options.tag;
    suite = { ...suite, cases: suite.cases.filter((evalCase) => evalCase.tags.includes(tag)) };
    if (suite.cases.length === 0) throw new UsageError(`No case of the suite has the tag "${tag}".`);
  }
  const baselineFile =
    options.baseline !== undefined && existsSync(resolve(io.cwd, options.baseline))
      ? parseBaseline(readFileSync(resolve(io.cwd, options.baseline), 'utf8'), options.baseline)
      : undefined;
  for (const file of [options.junit, options.html]) {
    // A report that cannot be written is refused now, not after the whole suite ran.
    if (file !== undefined && !existsSync(dirname(resolve(io.cwd, file))))
      throw new UsageError(`Cannot write ${file}: its folder does not exist.`);
  }
  const loaded = await loadConfig({ path: options.config, cwd: io.cwd, env: io.env });
  const judgeModel = options.judgeModel ?? loaded.evals?.judgeModel;
  // Everything opened from here on is closed in reverse order, whatever throws.
  const cleanup: (() => Promise<void>)[] = [];
  let progress: ReturnType<typeof createProgress> | undefined;
  try {
    const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
    cleanup.push(() => backend.close());
    if (backend.mode !== 'direct') throw new UsageError('keel eval needs the database itself.');
    const logger = createJsonLogger({ level: (io.env.KEEL_LOG_LEVEL as 'info' | undefined) ?? 'warn' });
    const evalStore = createEvalStore({ client: backend.client });
    const baseline =
      baselineFile ??
      (options.baseline === undefined ? undefined : await storedBaseline(evalStore, options.baseline));
    const governance = await openGovernance({ client: backend.client, config: loaded, env: io.env, logger });
    cleanup.push(() => governance.close());
    const otel = createOtelExport({ env: io.env, client: backend.client, logger });
    if (otel) cleanup.push(() => otel.shutdown());
    const gateway = openConfiguredGateway({
      config: loaded.gateway,
      client: backend.client,
      env: io.env,
      logger,
      governance: governance.gateway,
    });
    cleanup.push(() => gateway.close());
    progress = io.stderr.isTTY === true && !options.json ? createProgress(io) : undefined;
    const outcome = await runEval({
      suite,
      suiteLabel: options.suite,
      agents: [...loaded.agents.values()],
      ...(options.agent === undefined ? {} : { agent: options.agent }),
      store: backend.store,
      evalStore,
      concurrency,
      trials,
      caseTimeoutMs,
      prompts: governance.prompts,
      settings: {
        policies: governance.governing,
        logger,
        ...(otel === undefined ? {} : { telemetry: otel.telemetry }),
        ...(loaded.redactByTenant === undefined ? {} : { redactByTenant: loaded.redactByTenant }),
      },
      scorers: loaded.evals?.scorers ?? new Map(),
      judge: createLlmJudge(judgeModel === undefined ? {} : { model: judgeModel }),
      createdBy: `cli:${io.env.USER ?? 'local'}`,
      options: {
        suite_path: options.suite,
        ...(minPassRate === undefined ? {} : { min_pass_rate: minPassRate }),
        ...(options.baseline === undefined ? {} : { baseline: options.baseline }),
        ...(options.tag === undefined ? {} : { tag: options.tag }),
      },
      signal: io.signal,
      ...(progress ? { onResult: progress.update } : {}),
    });
    progress?.done();
    const view = evalView(outcome.eval, outcome.results);
    const comparison = baseline === undefined ? undefined : compareWithBaseline(view, baseline);
    const gate =
      minPassRate === undefined
        ? undefined
        : view.pass_rate >= minPassRate
          ? ('passed' as const)
          : ('failed' as const);
    writeReports(io, options, view, comparison);
    if (options.json)
      io.stdout.write(
        JSON.stringify({
          ...view,
          ...(minPassRate === undefined ? {} : { min_pass_rate: minPassRate, gate }),
          ...(comparison === undefined ? {} : { baseline: comparison }),
        }) + '\n',
      );
    else io.stdout.write(renderEvalTable(view, comparison));
    if (view.status === 'interrupted') {
      io.stderr.write(`Interrupted: ${view.total} finished case trial(s) kept in eval ${view.id}.\n`);
      return EXIT.interrupted;
    }
    if (gate === 'failed') {
      io.stderr.write(
        `Gate failed: pass rate ${percent(view.pass_rate)} is below ${percent(minPassRate!)}.\n`,
      );
      return EXIT.evalGateFailed;
    }
    return EXIT.ok;
  } finally {
    progress?.done();
    for (const close of cleanup.reverse()) await close().catch(() => {});
  }
}

async function storedBaseline(evalStore: EvalStore, id: string): Promise<BaselineSource> {
  const found = await evalStore.get({ tenantId: 'default', id });
  if (!found)
    throw new UsageError(
      `--baseline ${id} is neither a file nor a stored eval (keel evals list shows them).`,
    );
  const view = evalView(found.eval, found.results);
  return { ...view, cases: view.cases ?? [] };
}

function writeReports(
  io: CliIo,
  options: EvalCommandOptions,
  view: EvalView,
  comparison?: BaselineComparison,
) {
  if (options.junit !== undefined) writeFileSync(resolve(io.cwd, options.junit), renderJunit(view));
  if (options.html !== undefined) writeFileSync(resolve(io.cwd, options.html), renderHtml(view, comparison));
}

/** A one-line progress bar on stderr (TTY only), redrawn as each case trial ends. */
function createProgress(io: CliIo) {
  const counts = { pass: 0, fail: 0, error: 0 };
  let shown = false;
  return {
    update(result: { verdict: 'pass' | 'fail' | 'error' }, { done, total }: { done: number; total: number }) {
      counts[result.verdict]++;
      const width = 24;
      const filled = Math.round((done / total) * width);
      io.stderr.write(
        `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}` +
          `  ✓ ${counts.pass}  ✗ ${counts.fail}  ! ${counts.error}`,
      );
      shown = true;
    },
    done() {
      if (shown) io.stderr.write('\n');
      shown = false;
    },
  };
}

/** `keel evals list [--agent A] [--limit N] [--json]` and `keel evals show <id> [--json]`. */
export async function evalsCommand(
  {
    action,
    id,
    agent,
    limit,
    json,
  }: { action?: string; id?: string; agent?: string; limit?: string; json: boolean },
  io: CliIo,
): Promise<number> {
  if (action !== 'list' && action !== 'show')
    throw new UsageError(
      'Usage: keel evals list [--agent A] [--limit N] [--json] | keel evals show <id> [--json]',
    );
  if (action === 'show' && !id) throw new UsageError('Usage: keel evals show <id> [--json]');
  const pageSize = wholeNumber('limit', limit, 20, 200);
  const backend: Backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    if (action === 'list') {
      const evals =
        backend.mode === 'direct'
          ? (
              await createEvalStore({ client: backend.client }).list({
                tenantId: 'default',
                ...(agent === undefined ? {} : { agent }),
                limit: pageSize,
              })
            ).evals.map((record) => evalView(record))
          : (
              (await backend.api.call<{ data: EvalView[] }>(
                `/v1/evals?${new URLSearchParams({ limit: String(pageSize), ...(agent === undefined ? {} : { agent }) })}`,
              )) ?? { data: [] }
            ).data;
      if (json) io.stdout.write(JSON.stringify({ evals }) + '\n');
      else io.stdout.write(renderEvalList(evals));
      return EXIT.ok;
    }
    const view =
      backend.mode === 'direct'
        ? await (async () => {
            const found = await createEvalStore({ client: backend.client }).get({
              tenantId: 'default',
              id: id!,
            });
            if (!found) throw new EvalNotFoundError(id!);
            return evalView(found.eval, found.results);
          })()
        : await backend.api.call<EvalView>(`/v1/evals/${encodeURIComponent(id!)}`);
    if (!view) throw new EvalNotFoundError(id!);
    io.stdout.write(json ? JSON.stringify(view) + '\n' : renderEvalTable(view));
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}
