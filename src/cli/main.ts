import { parseArgs } from 'node:util';
import { serializeError } from '../errors/keel-error.js';
import type { CliIo } from './cli-io.js';
import { approvalsCommand, cancelCommand } from './commands/approvals.js';
import { auditCommand } from './commands/audit.js';
import { commandUsage, packageVersion } from './command-help.js';
import { doctorCommand } from './commands/doctor.js';
import { eraseCommand } from './commands/erase.js';
import { consoleCommand } from './commands/console.js';
import { controlsCommand } from './commands/controls.js';
import { gatewayCommand } from './commands/gateway.js';
import { migrateCommand, retryCommand, runsCommand, showCommand } from './commands/inspect.js';
import { budgetsCommand } from './commands/budgets.js';
import { exportCommand, importCommand, replayCommand } from './commands/cassettes.js';
import { keysCommand } from './commands/keys.js';
import { promptsCommand } from './commands/prompts.js';
import { pruneCommand } from './commands/prune.js';
import { runCommand } from './commands/run.js';
import { serveCommand } from './commands/serve.js';
import { statsCommand } from './commands/stats.js';
import { traceCommand } from './commands/trace.js';
import { workerCommand } from './commands/worker.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { UsageError } from './usage-error.js';
import { evalCommand, evalsCommand } from './commands/eval.js';
import { evalCaptureCommand } from './commands/eval-capture.js';

const HELP = `keel: the production runtime for LLM agents

Usage:
  keel run <agent> <input> [--detach] [--json] [--session ID] [--idempotency-key KEY] [--user U] [--trigger T]
  keel worker [--concurrency N] [--lease-ms MS] [--metrics-port N] [--metrics-host H] [--json]
  keel serve [--port N] [--host H] [--workers N] [--no-worker] [--json]
  keel gateway [--port N] [--host H] [--json]
      the config's gateway section; without one, routes from OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY
  keel console [--json]
  keel keys create --tenant T --scopes a,b [--name N] [--rpm N] [--tpm N] [--json]
  keel keys list [--tenant T] [--json]
  keel keys revoke <id> [--json]
  keel prompts push <agent> --file p.md [--note N] [--tenant T] [--json]
  keel prompts list|rollback <agent> [--tenant T] [--json]
  keel prompts show|pin <agent> [version] [--tenant T] [--json]
  keel audit [--action A] [--actor A] [--target T] [--since T] [--until T] [--tenant T] [--limit N] [--cursor C] [--json]
  keel erase --user <id> [--tenant T] [--json]
  keel tools disable|enable <tool> [--agent A] [--tenant T] [--reason R] [--json]
  keel tools list [--tenant T] [--json]
  keel deployments disable|enable <name> [--reason R] [--json]
  keel agents pause|resume <agent> [--tenant T] [--reason R] [--json]
  keel budgets create --scope S [--scope-id ID] --period P [--limit-usd N] [--limit-tokens N] [--soft-pct N] [--on-exhausted stop|approval] [--tenant T] [--json]
  keel budgets list [--tenant T] [--json]
  keel budgets update <id> [--limit-usd N|none] [--limit-tokens N|none] [--soft-pct N] [--on-exhausted stop|approval] [--json]
  keel budgets delete <id> [--tenant T] [--json]
  keel approvals list [--run R] [--json]
  keel approvals approve|reject <approval-id> [--reason R] [--json]
  keel cancel <run-id> [--json]
  keel runs [--limit N] [--status S] [--agent A] [--user U] [--trigger T] [--dead] [--json]
  keel runs show|retry <run-id> [--json]
  keel show <run-id> [--json]
  keel stats [--from T] [--to T] [--agent A] [--tenant T] [--group-by agent|prompt_version|model|tenant|user|day|hour] [--json]
  keel stats --compare (--a-from T --a-to T --b-from T --b-to T | --agent A --a-version V --b-version V) [--json]
  keel trace <run-id> [--json]
  keel export <run-id> [-o file] [--json]
  keel import <file> [--json]
  keel replay <cassette|run-id> [--config other.config.ts] [--live-after-divergence] [--json]
  keel eval <suite|folder> [--agent A] [--concurrency N] [--trials N] [--tag T] [--min-pass-rate 0.8]
            [--baseline EVAL_ID|FILE] [--json] [--junit FILE] [--html FILE] [--judge-model M] [--timeout-ms MS]
  keel eval capture --agent A [--outcome committed|rejected] [--feedback negative] [--limit N] [--tenant T] [-o suite.yaml] [--json]
  keel evals list [--agent A] [--limit N] [--json]
  keel evals show <eval-id> [--json]
  keel migrate [--json]
  keel doctor [--port N] [--json]
  keel prune --older-than 30d [--dry-run] [--json]
  keel version [--json]

Help for one command: keel <command> --help. The version: keel --version [--json].
With --json, every command prints its errors as one line of JSON on stderr:
{"error":{"code":"…","message":"…","fault":"…","retryable":false,"exit_code":2}}.

Common:
  --config FILE   the config file (default: KEEL_CONFIG or ./keel.config.{ts,mts,js,mjs})

Storage: DATABASE_URL=postgres://... uses Postgres; otherwise an embedded database in
KEEL_DATA_DIR (default ./.keel).
Exit codes: 0 ok, 1 run not completed (keel replay: diverged, even when --live-after-divergence
ran on from there; keel eval: below --min-pass-rate; keel doctor: a check failed), 2 usage,
3 config, 4 database, 5 internal, 6 agent paused or disabled, 130 interrupted.
`;

const OPTIONS = {
  config: { type: 'string' },
  detach: { type: 'boolean', default: false },
  dead: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  session: { type: 'string' },
  'idempotency-key': { type: 'string' },
  user: { type: 'string' },
  trigger: { type: 'string' },
  concurrency: { type: 'string' },
  'lease-ms': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  workers: { type: 'string' },
  'no-worker': { type: 'boolean', default: false },
  limit: { type: 'string' },
  status: { type: 'string' },
  agent: { type: 'string' },
  tenant: { type: 'string' },
  scopes: { type: 'string' },
  name: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'older-than': { type: 'string' },
  scope: { type: 'string' },
  'scope-id': { type: 'string' },
  period: { type: 'string' },
  'limit-usd': { type: 'string' },
  'limit-tokens': { type: 'string' },
  'soft-pct': { type: 'string' },
  'on-exhausted': { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  'live-after-divergence': { type: 'boolean', default: false },
  from: { type: 'string' },
  to: { type: 'string' },
  'group-by': { type: 'string' },
  compare: { type: 'boolean', default: false },
  'a-from': { type: 'string' },
  'a-to': { type: 'string' },
  'b-from': { type: 'string' },
  'b-to': { type: 'string' },
  'a-version': { type: 'string' },
  'b-version': { type: 'string' },
  file: { type: 'string' },
  note: { type: 'string' },
  action: { type: 'string' },
  actor: { type: 'string' },
  target: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  cursor: { type: 'string' },
  reason: { type: 'string' },
  output: { type: 'string', short: 'o' },
  trials: { type: 'string' },
  junit: { type: 'string' },
  html: { type: 'string' },
  'min-pass-rate': { type: 'string' },
  baseline: { type: 'string' },
  tag: { type: 'string' },
  'judge-model': { type: 'string' },
  'timeout-ms': { type: 'string' },
  outcome: { type: 'string' },
  feedback: { type: 'string' },
  run: { type: 'string' },
  version: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type OptionName = keyof typeof OPTIONS;

/**
 * The commands and the flags each takes besides `--config` and `--help`; any other is a usage
 * error. Every command takes `--json` (its tests check it): its output, or at least its errors,
 * as JSON.
 */
export const COMMAND_OPTIONS: Readonly<Record<string, readonly OptionName[]>> = {
  run: ['detach', 'json', 'session', 'idempotency-key', 'user', 'trigger'],
  worker: ['concurrency', 'lease-ms', 'metrics-port', 'metrics-host', 'json'],
  serve: ['port', 'host', 'workers', 'no-worker', 'json'],
  gateway: ['port', 'host', 'json'],
  console: ['json'],
  keys: ['tenant', 'scopes', 'name', 'rpm', 'tpm', 'json'],
  prompts: ['file', 'note', 'tenant', 'json'],
  audit: ['action', 'actor', 'target', 'since', 'until', 'tenant', 'limit', 'cursor', 'json'],
  erase: ['user', 'tenant', 'json'],
  tools: ['agent', 'tenant', 'reason', 'json'],
  deployments: ['reason', 'json'],
  agents: ['tenant', 'reason', 'json'],
  budgets: [
    'tenant',
    'scope',
    'scope-id',
    'period',
    'limit-usd',
    'limit-tokens',
    'soft-pct',
    'on-exhausted',
    'json',
  ],
  approvals: ['run', 'reason', 'json'],
  cancel: ['json'],
  runs: ['limit', 'status', 'agent', 'user', 'trigger', 'dead', 'json'],
  show: ['json'],
  stats: [
    'from',
    'to',
    'agent',
    'tenant',
    'group-by',
    'compare',
    'a-from',
    'a-to',
    'b-from',
    'b-to',
    'a-version',
    'b-version',
    'json',
  ],
  trace: ['json'],
  export: ['output', 'json'],
  import: ['json'],
  replay: ['live-after-divergence', 'json'],
  eval: [
    'agent',
    'concurrency',
    'trials',
    'tag',
    'min-pass-rate',
    'baseline',
    'json',
    'junit',
    'html',
    'judge-model',
    'timeout-ms',
    // keel eval capture
    'outcome',
    'feedback',
    'limit',
    'tenant',
    'output',
  ],
  evals: ['agent', 'limit', 'json'],
  migrate: ['json'],
  doctor: ['port', 'json'],
  prune: ['older-than', 'dry-run', 'json'],
  version: ['json'],
};

/** A command's own flags (besides `--config` and `--help`), for its usage. */
function flagsOf(command: string): { name: string; short?: string }[] {
  return (COMMAND_OPTIONS[command] ?? []).map((name) => {
    const option = OPTIONS[name];
    return 'short' in option ? { name, short: option.short } : { name };
  });
}

/** Runs the `keel` command line; returns the exit code. */
export async function main(argv: string[], io?: Partial<CliIo>): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  const ownSignals = io?.signal === undefined;
  if (ownSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const fullIo: CliIo = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    env: io?.env ?? process.env,
    cwd: io?.cwd ?? process.cwd(),
    signal: io?.signal ?? controller.signal,
  };
  try {
    return await dispatch(argv, fullIo);
  } catch (error) {
    const serialized = serializeError(error);
    const interrupted = fullIo.signal.aborted && serialized.code === 'internal_error';
    const exitCode = interrupted ? EXIT.interrupted : exitCodeFor(error);
    if (wantsJson(argv)) fullIo.stderr.write(renderJsonError(error, exitCode, interrupted) + '\n');
    else if (!interrupted) {
      const usage = error instanceof UsageError && error.usage !== undefined ? `\n\n${error.usage}` : '';
      fullIo.stderr.write(`keel: ${serialized.message}${usage} [${serialized.code}]\n`);
    }
    return exitCode;
  } finally {
    if (ownSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** Whether the command line asks for JSON (`--json` before any `--`), even if it does not parse. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * An error as `keel ... --json` prints it, on stderr: one line, `{ "error": { "code", "message",
 * "fault", "retryable", "exit_code", "details"? } }`, the exit code the same as without `--json`.
 */
export function renderJsonError(error: unknown, exitCode: number, interrupted = false): string {
  const { details, ...serialized } = interrupted
    ? { code: 'interrupted', message: 'Interrupted.', fault: 'caller', retryable: true, details: undefined }
    : serializeError(error);
  const shown = details !== undefined && Object.keys(details).length > 0 ? { details } : {};
  return JSON.stringify({ error: { ...serialized, exit_code: exitCode, ...shown } });
}

async function dispatch(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw new UsageError((error as Error).message, HELP);
  }
  const { values, positionals, tokens } = parsed;
  const [command, ...rest] = positionals;
  // `keel <command> --help` and `keel help <command>`: that command's usage, not the whole list.
  const helpFor = command === 'help' ? rest[0] : values.help ? command : undefined;
  if (helpFor !== undefined) {
    const usage = commandUsage(HELP, helpFor, flagsOf(helpFor));
    if (usage === undefined) throw new UsageError(`Unknown command "${helpFor}".`, HELP);
    io.stdout.write(usage);
    return EXIT.ok;
  }
  if (values.help || (command === undefined && !values.version) || command === 'help') {
    io.stdout.write(HELP);
    return command === undefined && !values.help ? EXIT.usage : EXIT.ok;
  }
  // Here `command` is undefined only with --version.
  if (command === undefined || command === 'version') {
    const flag = tokens.find((token) => token.kind === 'option' && !['json', 'version'].includes(token.name));
    if (flag?.kind === 'option') throw new UsageError(`keel --version does not take ${flag.rawName}.`);
    if (rest.length > 0) throw new UsageError('keel version takes no arguments.');
    const version = packageVersion();
    io.stdout.write(values.json ? JSON.stringify({ version }) + '\n' : `keel ${version}\n`);
    return EXIT.ok;
  }

  // A flag another command takes is refused here, before anything is loaded or opened.
  const allowed = COMMAND_OPTIONS[command];
  if (allowed !== undefined) {
    for (const token of tokens) {
      if (token.kind !== 'option' || token.name === 'config') continue;
      if (!allowed.includes(token.name as OptionName))
        throw new UsageError(
          `keel ${command} does not take ${token.rawName}.`,
          commandUsage(HELP, command, flagsOf(command)) ?? HELP,
        );
    }
  }
  switch (command) {
    case 'run':
      return runCommand(
        {
          agent: rest[0],
          input: rest.slice(1).join(' '),
          detach: values.detach,
          json: values.json,
          config: values.config,
          session: values.session,
          idempotencyKey: values['idempotency-key'],
          user: values.user,
          trigger: values.trigger,
        },
        io,
      );
    case 'worker':
      return workerCommand(
        {
          json: values.json,
          concurrency: values.concurrency,
          config: values.config,
          leaseMs: values['lease-ms'],
          metricsPort: values['metrics-port'],
          metricsHost: values['metrics-host'],
        },
        io,
      );
    case 'serve':
      return serveCommand(
        {
          port: values.port,
          host: values.host,
          workers: values.workers,
          noWorker: values['no-worker'],
          config: values.config,
          json: values.json,
        },
        io,
      );
    case 'console':
      if (rest.length > 0) throw new UsageError('keel console takes no arguments.');
      return consoleCommand({ json: values.json }, io);
    case 'gateway':
      return gatewayCommand(
        { port: values.port, host: values.host, config: values.config, json: values.json },
        io,
      );
    case 'keys':
      return keysCommand(
        {
          action: rest[0],
          id: rest[1],
          tenant: values.tenant,
          scopes: values.scopes,
          name: values.name,
          rpm: values.rpm,
          tpm: values.tpm,
          json: values.json,
        },
        io,
      );
    case 'prompts':
      return promptsCommand(
        {
          action: rest[0],
          agent: rest[1],
          version: rest[2],
          file: values.file,
          note: values.note,
          tenant: values.tenant,
          config: values.config,
          json: values.json,
        },
        io,
      );
    case 'tools':
    case 'deployments':
    case 'agents':
      return controlsCommand(
        {
          noun: command,
          action: rest[0],
          target: rest[1],
          agent: values.agent,
          tenant: values.tenant,
          reason: values.reason,
          json: values.json,
        },
        io,
      );
    case 'budgets':
      return budgetsCommand(
        {
          action: rest[0],
          id: rest[1],
          tenant: values.tenant,
          scope: values.scope,
          scopeId: values['scope-id'],
          period: values.period,
          limitUsd: values['limit-usd'],
          limitTokens: values['limit-tokens'],
          softPct: values['soft-pct'],
          onExhausted: values['on-exhausted'],
          json: values.json,
        },
        io,
      );
    case 'audit':
      return auditCommand(
        {
          action: values.action,
          actor: values.actor,
          target: values.target,
          since: values.since,
          until: values.until,
          tenant: values.tenant,
          limit: values.limit,
          cursor: values.cursor,
          json: values.json,
        },
        io,
      );
    case 'erase':
      return eraseCommand({ user: values.user, tenant: values.tenant, json: values.json }, io);
    case 'approvals':
      return approvalsCommand(
        { action: rest[0], id: rest[1], run: values.run, reason: values.reason, json: values.json },
        io,
      );
    case 'cancel':
      return cancelCommand({ runId: rest[0], json: values.json }, io);
    case 'runs':
      if (rest[0] === 'show' || rest[0] === 'retry') {
        const flag = tokens.find((token) => token.kind === 'option' && token.name !== 'json');
        if (flag?.kind === 'option')
          throw new UsageError(`keel runs ${rest[0]} does not take ${flag.rawName}.`);
        if (rest.length > 2) throw new UsageError(`Usage: keel runs ${rest[0]} <run-id> [--json]`);
        return rest[0] === 'show'
          ? showCommand({ runId: rest[1], json: values.json }, io)
          : retryCommand({ runId: rest[1], json: values.json }, io);
      }
      if (rest.length > 0) throw new UsageError(`Unknown runs command "${rest[0]}": use show or retry.`);
      return runsCommand(
        {
          dead: values.dead,
          limit: values.limit,
          status: values.status,
          agent: values.agent,
          user: values.user,
          trigger: values.trigger,
          json: values.json,
        },
        io,
      );
    case 'show':
      return showCommand({ runId: rest[0], json: values.json }, io);
    case 'stats':
      return statsCommand(
        {
          from: values.from,
          to: values.to,
          agent: values.agent,
          tenant: values.tenant,
          groupBy: values['group-by'],
          compare: values.compare,
          aFrom: values['a-from'],
          aTo: values['a-to'],
          bFrom: values['b-from'],
          bTo: values['b-to'],
          aVersion: values['a-version'],
          bVersion: values['b-version'],
          json: values.json,
        },
        io,
      );
    case 'trace':
      return traceCommand({ runId: rest[0], json: values.json }, io);
    case 'export':
      return exportCommand({ runId: rest[0], output: values.output, json: values.json }, io);
    case 'import':
      return importCommand({ file: rest[0], json: values.json }, io);
    case 'replay':
      return replayCommand(
        {
          source: rest[0],
          config: values.config,
          json: values.json,
          liveAfterDivergence: values['live-after-divergence'],
        },
        io,
      );
    case 'eval': {
      // `keel eval <suite>` and `keel eval capture` share the command name, not their flags.
      const captureOnly = ['outcome', 'feedback', 'limit', 'tenant', 'output'] as const;
      const runOnly = [
        'concurrency',
        'trials',
        'tag',
        'min-pass-rate',
        'baseline',
        'junit',
        'html',
        'judge-model',
        'timeout-ms',
      ] as const;
      const misplaced = (rest[0] === 'capture' ? runOnly : captureOnly).find(
        (flag) => values[flag] !== undefined,
      );
      if (misplaced !== undefined)
        throw new UsageError(
          `--${misplaced} is a flag of ${rest[0] === 'capture' ? 'keel eval <suite>' : 'keel eval capture'}.`,
        );
      if (rest[0] === 'capture')
        return evalCaptureCommand(
          {
            agent: values.agent,
            outcome: values.outcome,
            feedback: values.feedback,
            limit: values.limit,
            tenant: values.tenant,
            output: values.output,
            json: values.json,
          },
          io,
        );
      return evalCommand(
        {
          suite: rest[0],
          config: values.config,
          agent: values.agent,
          concurrency: values.concurrency,
          trials: values.trials,
          tag: values.tag,
          minPassRate: values['min-pass-rate'],
          baseline: values.baseline,
          json: values.json,
          junit: values.junit,
          html: values.html,
          judgeModel: values['judge-model'],
          timeoutMs: values['timeout-ms'],
        },
        io,
      );
    }
    case 'evals':
      return evalsCommand(
        { action: rest[0], id: rest[1], agent: values.agent, limit: values.limit, json: values.json },
        io,
      );
    case 'migrate':
      return migrateCommand({ json: values.json }, io);
    case 'doctor':
      if (rest.length > 0) throw new UsageError('keel doctor takes no arguments.');
      return doctorCommand({ json: values.json, port: values.port, config: values.config }, io);
    case 'prune':
      return pruneCommand(
        { olderThan: values['older-than'], dryRun: values['dry-run'], json: values.json },
        io,
      );
    default:
      throw new UsageError(`Unknown command "${command}".`, HELP);
  }
}
