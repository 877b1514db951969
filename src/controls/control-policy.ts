import type { SerializedError } from '../errors/keel-error.js';
import { appendAudit } from '../journal/audit-log.js';
import { DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { RunRecord } from '../journal/types.js';
import type { StepPolicy, ToolCallContext } from '../runtime/step-policy.js';
import { hashCanonical } from '../util/canonical-hash.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { agentHeldError } from './control-errors.js';
import type { Controls } from './controls.js';
import type { SpendBreakers } from './spend-breaker.js';
import type { ToolPolicy } from './tool-policy.js';

/** Counts refused tool calls (`KeelMetrics.toolRefused` fits). */
export type ToolRefusalCounter = (refusal: {
  tool: string;
  code: 'tool_disabled' | 'tool_not_allowed';
}) => void;

/** Options of {@link createControlPolicy}. */
export interface ControlPolicyOptions {
  /** The runtime controls (started: its cached reads answer the hooks). */
  controls: Controls;
  /** The environment's tool lists (`createToolPolicy`); default: every tool allowed. */
  toolPolicy?: ToolPolicy;
  /** Fed with every model call's cost; a breaker that trips pauses the agent or tenant. */
  breakers?: SpendBreakers;
  /** Where destructive tool calls and refused calls are audited (the journal's client). */
  client?: SqlClient;
  schema?: string;
  onToolRefused?: ToolRefusalCounter;
  logger?: Logger;
}

/** The name of the policy (the key of its facts in a model step's `meta.policy`). */
export const CONTROL_POLICY_NAME = 'controls';

/**
 * Runtime controls as a step policy: a paused agent or tenant stops its runs at their next model
 * step (stop reason `paused`), a disabled agent fails them (`agent_disabled`); disabled and
 * denied tools are withheld from the model, and a call to one anyway is refused with
 * `tool_disabled` / `tool_not_allowed` as its result, so the agent can carry on without it.
 * Each model call's cost feeds the spend breakers; destructive tool calls are audited.
 * Every check reads the controls' cache: no database round trip on the hot path.
 */
export function createControlPolicy({
  controls,
  toolPolicy,
  breakers,
  client,
  schema = DEFAULT_SCHEMA,
  onToolRefused,
  logger = silentLogger,
}: ControlPolicyOptions): StepPolicy {
  const refusalOf = (run: RunRecord, tool: string): SerializedError | undefined => {
    const disabled = controls.toolDisabled({ tool, agent: run.agent, tenantId: run.tenantId });
    if (disabled !== undefined) {
      return {
        code: 'tool_disabled',
        message:
          `Tool ${tool} is disabled right now${disabled.reason ? ` (${disabled.reason})` : ''}. ` +
          'Do not call it again in this run: carry on without it, and tell the user what could not be done.',
        fault: 'system',
        retryable: false,
        details: { tool, setBy: disabled.setBy },
      };
    }
    const refusal = toolPolicy?.refusal(tool);
    if (refusal === undefined) return undefined;
    return {
      code: 'tool_not_allowed',
      message: `${refusal} Carry on without it.`,
      fault: 'caller',
      retryable: false,
      details: { tool, environment: toolPolicy?.environment },
    };
  };

  const audit = async (context: ToolCallContext, action: string, details: Record<string, unknown>) => {
    if (client === undefined) return;
    const { run, tool } = context;
    await appendAudit(
      client,
      {
        tenantId: run.tenantId,
        actor: run.createdBy === null ? `run:${run.id}` : `key:${run.createdBy}`,
        action,
        target: `tool:${tool.spec.name}`,
        details: {
          run_id: run.id,
          agent: run.agent,
          seq: context.seq,
          tool_call_id: context.toolCallId,
          // The arguments' fingerprint, not the arguments: the audit log holds no payloads.
          arguments_sha256: hashCanonical(context.args ?? null),
          ...details,
        },
      },
      { schema },
    );
  };

  return {
    name: CONTROL_POLICY_NAME,

    beforeModelStep({ run }) {
      const hold = controls.agentHold({ agent: run.agent, tenantId: run.tenantId });
      if (hold === undefined) return undefined;
      const error = agentHeldError(run.agent, hold).toJSON();
      return { stop: { reason: hold.code === 'agent_paused' ? 'paused' : 'error', error } };
    },

    async reserveModelCall({ run, request }) {
      const withheld: { tool: string; code: string }[] = [];
      const tools = request.tools?.filter((spec) => {
        const refusal = refusalOf(run, spec.name);
        if (refusal !== undefined) withheld.push({ tool: spec.name, code: refusal.code });
        return refusal === undefined;
      });
      return {
        ...(withheld.length === 0 ? {} : { request: { ...request, tools }, meta: { withheld } }),
        async settle({ costUsd }) {
          if (breakers === undefined || costUsd === undefined || costUsd <= 0) return;
          await breakers.record({ tenantId: run.tenantId, agent: run.agent, costUsd });
        },
      };
    },

    async beforeToolCall(context) {
      const refusal = refusalOf(context.run, context.tool.spec.name);
      if (refusal === undefined) return undefined;
      onToolRefused?.({
        tool: context.tool.spec.name,
        code: refusal.code as 'tool_disabled' | 'tool_not_allowed',
      });
      await audit(context, 'tool.refused', { code: refusal.code }).catch((error: unknown) =>
        logger.error('could not audit a refused tool call', { error: String(error) }),
      );
      return { refuse: refusal };
    },

    async afterToolCall(context) {
      if (context.tool.effect !== 'destructive') return;
      await audit(context, 'tool.call', {
        ok: context.ok,
        ...(context.errorCode === undefined ? {} : { error_code: context.errorCode }),
      });
    },
  };
}
