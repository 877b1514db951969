import { isKeelError } from '../errors/keel-error.js';

/** Exit codes of the `keel` command; documented in docs/operations.md. */
export const EXIT = {
  /** The command did what was asked (for `keel run`: the run completed). */
  ok: 0,
  /**
   * The run ended without completing (a limit, an error, a cancellation), or `keel run` on the
   * embedded database left it suspended on an approval.
   */
  runNotCompleted: 1,
  /** `keel replay`: the code did not reproduce the cassette (the first divergence is printed). */
  replayDiverged: 1,
  /** `keel eval --min-pass-rate`: the suite's pass rate is below the gate. */
  evalGateFailed: 1,
  /** `keel doctor`: at least one check failed (its report says which). */
  doctorFailed: 1,
  /**
   * Bad command line or input: unknown command, flag, agent or prompt version, an empty prompt
   * file, a bad cursor, an unknown approval; or a refused state (no pin to roll back, a user's run
   * still executing, an approval already decided).
   */
  usage: 2,
  /** The config file is missing, broken or invalid (or `keel gateway` has nothing to route to). */
  config: 3,
  /** The database cannot be reached or is locked by another process. */
  database: 4,
  /** Anything else: a bug or an unexpected failure. */
  internal: 5,
  /**
   * The agent takes no runs right now: paused (`agent_paused`: by hand, `keel agents pause`, or
   * by a spend breaker; `keel agents resume` lifts it) or disabled (`agent_disabled`).
   */
  agentHeld: 6,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

/** Codes of input the command refuses (exit 2): a bad name, version, file, cursor or state. */
const USAGE_CODES: ReadonlySet<string> = new Set([
  'unknown_agent',
  'usage',
  'run_not_found',
  'invalid_request',
  'invalid_cursor',
  'prompt_empty',
  'prompt_too_large',
  'prompt_version_not_found',
  'prompt_not_pinned',
  'user_runs_running',
  'invalid_control',
  'control_not_found',
  'invalid_budget',
  'budget_not_found',
  'budget_exists',
  'model_price_unknown',
  'cassette_invalid',
  'cassette_version_unsupported',
  'run_not_ended',
  'run_not_dead',
  'run_already_retried',
  'suite_invalid',
  'scorer_invalid',
  'baseline_invalid',
  'eval_not_found',
  'approval_not_found',
  'approval_not_pending',
]);

/** The exit code for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (!isKeelError(error)) return EXIT.internal;
  if (
    error.code.startsWith('config_') ||
    error.code === 'invalid_tool' ||
    error.code === 'invalid_agent' ||
    error.code === 'gateway_no_provider_keys'
  )
    return EXIT.config;
  if (error.code === 'agent_paused' || error.code === 'agent_disabled') return EXIT.agentHeld;
  if (USAGE_CODES.has(error.code)) return EXIT.usage;
  if (
    error.code === 'database_unavailable' ||
    error.code === 'store_locked' ||
    error.code === 'data_dir_in_use' ||
    error.code === 'server_url_not_loopback' ||
    error.code === 'migration_error'
  )
    return EXIT.database;
  return EXIT.internal;
}
