import type { SerializedError } from '../errors/keel-error.js';
import type { RunRecord, StopReason } from '../journal/types.js';
import type { LanguageModel, ModelRequest, Usage } from '../model/model.js';
import type { Tool } from '../tools/tool.js';
import type { Agent } from './agent.js';

/**
 * The seam between the agent loop and everything that governs it: budgets, spend breakers,
 * kill switches, tool policy, prompt resolution (guards use the same places, see
 * `guard-steps.ts`). The loop calls each policy's hooks, in the order the policies are given, at
 * four points of a run; a policy never reaches into the loop's state.
 *
 * Determinism: the journal replays a run, so a hook's verdict must not change a replayed step.
 * The loop calls `beforeModelStep` and `beforeToolCall` only for steps the journal does not
 * already hold, and `reserveModelCall` only around a model call that really happens. What a
 * policy changes in a request (a lower `maxOutputTokens`, tools withheld) is not part of the
 * step's identity (its input hash is computed from what the agent asked): it is recorded in the
 * step's meta under `policy`.
 */
export interface StepPolicy {
  /** Names the policy in logs and in the step meta (`meta.policy[name]`). */
  readonly name: string;
  /**
   * Before a model step the journal does not hold yet. Return a stop to end the run there (an
   * agent paused, a budget spent), with the stop reason and the error the run ends with.
   */
  beforeModelStep?(context: ModelStepContext): Promise<PolicyStop | void> | PolicyStop | void;
  /**
   * Around one model call (every attempt of a step, retries included): reserve what the call may
   * cost before it is made, and settle after. Return a grant (optionally narrowing the request)
   * or a stop when the call must not be made: the model step then fails with the stop's error
   * and the run ends with its reason. Or return an approval request (a budget that may be
   * extended): the model step fails, recording the request, and the run suspends on an
   * `approval` step; once approved, the loop makes the call again in a new model step, and a
   * refusal ends the run with the request's stop. A grant's `settle` is called exactly once,
   * after the call, with what it cost (or without usage when the call failed before the provider
   * answered).
   */
  reserveModelCall?(context: ModelCallContext): Promise<ModelCallGrant | PolicyStop | PolicyApproval>;
  /**
   * Before a tool call the journal does not hold yet (after its arguments parsed and validated
   * and its argument guards passed, before any approval is asked). Whether a call needs an
   * approval is the tool's own (static) definition, never a policy's: the approval step's
   * position in the journal must not depend on state that can change. A refusal journals the call as a failed tool step with the refusal's
   * error (the model sees it as the tool's result and can degrade gracefully); a stop ends the
   * run.
   */
  beforeToolCall?(context: ToolCallContext): Promise<ToolCallVerdict | void> | ToolCallVerdict | void;
  /** After a tool call ran (not on replay), with its outcome: for audit and counters. */
  afterToolCall?(context: ToolCallContext & { ok: boolean; errorCode?: string }): Promise<void> | void;
  /**
   * The instructions a run uses instead of the agent's (a prompt registry's pinned version,
   * resolved and recorded on the run when it was created). The first policy that returns text
   * wins; called once per execution, so it must answer the same for the same run every time.
   */
  instructions?(context: PolicyRunContext): Promise<string | undefined> | string | undefined;
  /**
   * After the run ended, however it ended (completed, stopped by a limit or a policy, cancelled,
   * ended at its claim): give back what the run still holds (a budget's reservations of earlier
   * executions). Called by the worker that ended it; a failure is logged, never thrown.
   */
  runEnded?(run: RunRecord): Promise<void> | void;
}

/** What every hook knows about the run. */
export interface PolicyRunContext {
  run: RunRecord;
  agent: Agent;
  model: LanguageModel;
  /** Aborts with the run (cancel, lost lease, deadline). */
  signal: AbortSignal;
}

/** What a step policy sees before a model step. */
export interface ModelStepContext extends PolicyRunContext {
  seq: number;
  /** Model calls the run made before this step. */
  modelCalls: number;
  /** The run's totals so far. */
  usage: Usage;
  costUsd: number;
}

/** What a step policy sees around one model call. */
export interface ModelCallContext extends ModelStepContext {
  /** The model call of the step (1, 2... across retries). */
  attempt: number;
  /** The request as it stands (earlier policies may have narrowed it). */
  request: ModelRequest;
}

/** What a step policy sees before a tool call. */
export interface ToolCallContext extends PolicyRunContext {
  seq: number;
  /** The model step that asked for the call. */
  parentSeq: number;
  tool: Tool;
  toolCallId: string;
  /** The validated arguments. */
  args: unknown;
}

/** Ends the run: the stop reason and the error it ends with (its message names the cause). */
export interface PolicyStop {
  stop: { reason: StopReason; error: SerializedError };
}

/**
 * Holds a model call until a person approves (see approval-gate.ts): `tool` and `arguments` are
 * what the approval row shows (`budget:<id>` and the budget's state for a budget extension);
 * `stop` is how the run ends when the approval is rejected or expires.
 */
export interface PolicyApproval {
  approval: { tool: string; arguments: unknown; stop: PolicyStop['stop'] };
}

/** Lets a model call go ahead, possibly narrowed. */
export interface ModelCallGrant {
  /** The request to send instead (a lower `maxOutputTokens`, fewer tools). */
  request?: ModelRequest;
  /** Kept on the model step's meta under `policy[name]` (what was reserved, what was withheld). */
  meta?: Record<string, unknown>;
  /** Called once after the call. `usage`/`costUsd` are absent when nothing is known of its cost. */
  settle?(result: { ok: boolean; usage?: Usage; costUsd?: number }): Promise<void>;
}

/** A tool call refused: it does not run, and the model gets `error` as its result. */
export interface ToolCallVerdict {
  refuse?: SerializedError;
  stop?: PolicyStop['stop'];
}

export function isPolicyApproval(value: unknown): value is PolicyApproval {
  return (
    typeof value === 'object' &&
    value !== null &&
    'approval' in value &&
    (value as PolicyApproval).approval !== undefined
  );
}

export function isPolicyStop(value: unknown): value is PolicyStop {
  return (
    typeof value === 'object' && value !== null && 'stop' in value && (value as PolicyStop).stop !== undefined
  );
}
