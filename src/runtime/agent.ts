import { InvalidAgentError } from '../errors/config-errors.js';
import type { LanguageModel, ResponseFormat } from '../model/model.js';
import type { Guard } from '../guards/guard.js';
import type { Tool } from '../tools/tool.js';
import { assertRedactionRules, type RedactionRule } from './redaction.js';

/** Caps on one run. Each one, when hit, ends the run with its own stop reason. */
export interface AgentLimits {
  /** Model calls per run (stop reason `max_steps`). Default 20. */
  maxSteps?: number;
  /** Input + output tokens per run (stop reason `budget`). Default: none. */
  maxTokens?: number;
  /** Dollars per run, checked before every model call (stop reason `budget`). Default: none. */
  maxCostUsd?: number;
  /** Wall time from the run's first start (stop reason `deadline`). Default 10 minutes. */
  deadlineMs?: number;
  /** Timeout of one model call. Default 60 s. */
  modelTimeoutMs?: number;
  /** Default timeout of one tool call (a tool's own `timeoutMs` wins). Default 30 s. */
  toolTimeoutMs?: number;
  /** Same tool with the same arguments this many times ends the run (`loop_detected`). Default 3. */
  loopThreshold?: number;
  /**
   * Model calls one model step may make on retryable errors (429, 5xx, `gateway_unavailable`, a
   * connection failure, a timeout), in place and across waits; the last failure then ends the run
   * with `model_attempts_exhausted`. Default 20.
   */
  modelAttempts?: number;
  /**
   * Longest wait before retrying a model call that a run sits out on its worker. A longer one
   * (a provider's Retry-After, an open breaker's cooldown, a long backoff) releases the run: it
   * becomes `waiting` until then, holding no worker, and any worker resumes it. Waiting counts
   * against `deadlineMs`. Default 3 s.
   */
  maxInPlaceWaitMs?: number;
}

/** The limits of an agent for what its `limits` leave out (no token or cost cap by default). */
export const DEFAULT_LIMITS: Required<Omit<AgentLimits, 'maxTokens' | 'maxCostUsd'>> &
  Pick<AgentLimits, 'maxTokens' | 'maxCostUsd'> = {
  maxSteps: 20,
  maxTokens: undefined,
  maxCostUsd: undefined,
  deadlineMs: 10 * 60_000,
  modelTimeoutMs: 60_000,
  toolTimeoutMs: 30_000,
  loopThreshold: 3,
  modelAttempts: 20,
  maxInPlaceWaitMs: 3_000,
};

/** The options of `defineAgent`: name, instructions, model, tools, limits, guards, redaction. */
export interface AgentOptions {
  /** 1-64 chars of letters, digits, `_`, `-` or `.`; the name runs are submitted under. */
  name: string;
  /** The system prompt. */
  instructions: string;
  /** A model instance, or a reference such as `openai:gpt-4o-mini` resolved at run time. */
  model: LanguageModel | string;
  tools?: Tool[];
  limits?: AgentLimits;
  /** Ask the model for JSON (optionally matching a schema) in its final answer. */
  responseFormat?: ResponseFormat;
  /** Sampling temperature passed to the model. */
  temperature?: number;
  /** Cap on output tokens of each model call. */
  maxOutputTokens?: number;
  /**
   * Checks at the run's input, tool arguments, tool outputs and final answer (see
   * `defineGuard` and the built-in `guards`), run in this order at each stage.
   */
  guards?: Guard[];
  /**
   * Redaction rules applied to what the run stores (journal payloads, its input and output, its
   * logs) before it is written: `['pii']`, or functions of a text (which must be idempotent:
   * redacting a redacted text changes nothing). See docs/governance.md.
   */
  redact?: RedactionRule[];
  /**
   * Whether the model, too, sees model and tool outputs redacted. Default false: within one
   * execution it sees the originals; an execution that resumes the run sees the journal's
   * (redacted) ones.
   */
  redactFromModel?: boolean;
  /**
   * What a run in flight does when it is resumed by a different version of this agent (a deploy:
   * changed instructions, tools or model; see `agentVersionOf`). `'continue'` (the default): its
   * recorded steps are served from the journal whatever the new code would ask, new steps run on
   * the new code, and the change is recorded on the run (`versionChanges`, shown in its trace).
   * `'fail'`: a recorded step the new code asks for differently ends the run `nondeterminism`.
   */
  onCodeChange?: 'continue' | 'fail';
}

/** A validated agent definition. */
export interface Agent extends AgentOptions {
  readonly tools: Tool[];
  readonly limits: AgentLimits;
}

const AGENT_NAME = /^[a-zA-Z0-9_.-]{1,64}$/;

/** Defines an agent. Throws `InvalidAgentError` (code `invalid_agent`) for an unusable one. */
export function defineAgent(options: AgentOptions): Agent {
  const { name, instructions, model, tools = [], limits = {} } = options;
  const label = typeof name === 'string' ? name : String(name);
  if (typeof name !== 'string' || !AGENT_NAME.test(name)) {
    throw new InvalidAgentError(label, 'name must be 1-64 characters of letters, digits, "_", "-" or "."');
  }
  if (typeof instructions !== 'string') throw new InvalidAgentError(name, 'instructions must be a string');
  if (
    typeof model !== 'string' &&
    (typeof model !== 'object' || model === null || typeof model.generate !== 'function')
  ) {
    throw new InvalidAgentError(
      name,
      'model must be a LanguageModel or a reference such as "openai:gpt-4o-mini"',
    );
  }
  for (const guard of options.guards ?? []) {
    if (
      !guard ||
      typeof guard !== 'object' ||
      typeof guard.check !== 'function' ||
      !Array.isArray(guard.stages) ||
      typeof guard.name !== 'string'
    ) {
      throw new InvalidAgentError(name, 'every guard must be created with defineGuard() or a built-in guard');
    }
  }
  if (options.redact !== undefined) assertRedactionRules(name, options.redact);
  if (options.onCodeChange !== undefined && !['continue', 'fail'].includes(options.onCodeChange)) {
    throw new InvalidAgentError(name, 'onCodeChange must be "continue" or "fail"');
  }
  const seen = new Set<string>();
  for (const tool of tools) {
    if (!tool || typeof tool !== 'object' || !tool.spec) {
      throw new InvalidAgentError(name, 'every tool must be created with defineTool()');
    }
    if (seen.has(tool.name)) throw new InvalidAgentError(name, `two tools are named "${tool.name}"`);
    seen.add(tool.name);
  }
  for (const [key, value] of Object.entries(limits)) {
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      throw new InvalidAgentError(name, `limits.${key} must be a positive number`);
    }
  }
  return { ...options, tools, limits };
}
