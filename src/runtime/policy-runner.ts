import { serializeError } from '../errors/keel-error.js';
import type { ModelRequest, Usage } from '../model/model.js';
import type { Logger } from '../util/logger.js';
import {
  isPolicyApproval,
  isPolicyStop,
  type ModelCallContext,
  type ModelStepContext,
  type PolicyApproval,
  type PolicyRunContext,
  type PolicyStop,
  type StepPolicy,
  type ToolCallContext,
  type ToolCallVerdict,
} from './step-policy.js';

/** What the loop gets from all policies for one model call: go ahead (narrowed), stop or wait. */
export type CombinedGrant =
  | PolicyStop
  | PolicyApproval
  | {
      request: ModelRequest;
      /** Each granting policy's facts, by policy name (the model step's `meta.policy`). */
      meta: Record<string, unknown>;
      /** Settles every policy's grant once; never throws (a failed settle is logged). */
      settle(result: { ok: boolean; usage?: Usage; costUsd?: number }): Promise<void>;
    };

/**
 * The policies of a run as one: each hook calls the policies in order and combines their
 * answers. The first stop (or approval request) wins (and grants already made for the call are settled as unused);
 * each grant's narrowed request is what the next policy sees. A policy that throws fails the
 * hook: nothing governed happens unchecked (a budget store that cannot be reached stops spend).
 */
export interface PolicyRunner {
  readonly empty: boolean;
  instructions(context: PolicyRunContext): Promise<string | undefined>;
  beforeModelStep(context: ModelStepContext): Promise<PolicyStop | undefined>;
  reserveModelCall(context: ModelCallContext): Promise<CombinedGrant>;
  beforeToolCall(context: ToolCallContext): Promise<ToolCallVerdict | undefined>;
  afterToolCall(context: ToolCallContext & { ok: boolean; errorCode?: string }): Promise<void>;
}

export function createPolicyRunner(policies: readonly StepPolicy[], logger: Logger): PolicyRunner {
  const settleQuietly = async (
    name: string,
    settle: ((result: { ok: boolean; usage?: Usage; costUsd?: number }) => Promise<void>) | undefined,
    result: { ok: boolean; usage?: Usage; costUsd?: number },
  ) => {
    if (!settle) return;
    try {
      await settle(result);
    } catch (error) {
      // The call happened but its spend is not counted: the hold is given back when the run ends.
      // Logged, so an operator sees the budget undercounted.
      logger.error('policy could not settle a model call', { policy: name, error: serializeError(error) });
    }
  };

  return {
    empty: policies.length === 0,

    async instructions(context) {
      for (const policy of policies) {
        const text = await policy.instructions?.(context);
        if (text !== undefined) return text;
      }
      return undefined;
    },

    async beforeModelStep(context) {
      for (const policy of policies) {
        const verdict = await policy.beforeModelStep?.(context);
        if (isPolicyStop(verdict)) return verdict;
      }
      return undefined;
    },

    async reserveModelCall(context) {
      let request = context.request;
      const meta: Record<string, unknown> = {};
      const settles: { name: string; settle: Parameters<typeof settleQuietly>[1] }[] = [];
      const releaseAll = () =>
        Promise.all(settles.map(({ name, settle }) => settleQuietly(name, settle, { ok: false })));
      for (const policy of policies) {
        if (!policy.reserveModelCall) continue;
        let answer;
        try {
          answer = await policy.reserveModelCall({ ...context, request });
        } catch (error) {
          await releaseAll();
          throw error;
        }
        if (isPolicyStop(answer) || isPolicyApproval(answer)) {
          await releaseAll();
          return answer;
        }
        if (answer.request) request = answer.request;
        if (answer.meta) meta[policy.name] = answer.meta;
        settles.push({ name: policy.name, settle: answer.settle?.bind(answer) });
      }
      let settled = false;
      return {
        request,
        meta,
        async settle(result) {
          if (settled) return;
          settled = true;
          await Promise.all(settles.map(({ name, settle }) => settleQuietly(name, settle, result)));
        },
      };
    },

    async beforeToolCall(context) {
      for (const policy of policies) {
        const verdict = await policy.beforeToolCall?.(context);
        if (verdict && (verdict.stop || verdict.refuse)) return verdict;
      }
      return undefined;
    },

    async afterToolCall(context) {
      for (const policy of policies) {
        try {
          await policy.afterToolCall?.(context);
        } catch (error) {
          logger.error('policy failed after a tool call', {
            policy: policy.name,
            error: serializeError(error),
          });
        }
      }
    },
  };
}
