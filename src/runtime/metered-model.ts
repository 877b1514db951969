import { KeelError } from '../errors/keel-error.js';
import type { LanguageModel, ModelCallOptions, ModelRequest, ModelStreamEvent } from '../model/model.js';
import { costOf } from '../model/prices.js';
import type { PolicyRunner } from './policy-runner.js';
import { isPolicyApproval, isPolicyStop, type ModelStepContext } from './step-policy.js';

/**
 * A model whose every call goes through the run's policies first, as the loop's own model calls
 * do (model-call.ts): reserved before it starts (the request narrowed as the grant says), settled
 * with its usage after, released when it fails. For calls made on a run's behalf outside a model
 * step: a guard's classifier (see `GuardContext.meter`).
 *
 * A call that a policy refuses (a budget spent) or would hold for an approval is not made: it
 * throws a `budget_exhausted` KeelError naming the cause, so the caller's own failure policy
 * applies (a guard's `onClassifierError`). A policy that throws (a budget store out of reach)
 * throws through: no call is made unbudgeted.
 */
export function meterModel(
  model: LanguageModel,
  { policies, context }: { policies: PolicyRunner; context: () => ModelStepContext },
): LanguageModel {
  let attempt = 0;
  const reserve = async (request: ModelRequest) => {
    attempt++;
    const grant = await policies.reserveModelCall({ ...context(), model, attempt, request });
    if (isPolicyStop(grant) || isPolicyApproval(grant)) {
      const stop = isPolicyStop(grant) ? grant.stop : grant.approval.stop;
      throw new KeelError({
        code: 'budget_exhausted',
        message: `${model.provider}:${model.modelId} was not called: ${stop.error.message}`,
        fault: 'caller',
        details: { stopReason: stop.reason, cause: stop.error.code, ...(stop.error.details ?? {}) },
      });
    }
    return grant;
  };
  const priced = (usage: { inputTokens: number; outputTokens: number }) =>
    costOf({ provider: model.provider, modelId: model.modelId, usage });

  return {
    provider: model.provider,
    modelId: model.modelId,
    ...(model.retriesOwned === undefined ? {} : { retriesOwned: model.retriesOwned }),
    async generate(request: ModelRequest, options?: ModelCallOptions) {
      const grant = await reserve(request);
      let response;
      try {
        response = await model.generate(grant.request, options);
      } catch (error) {
        await grant.settle({ ok: false });
        throw error;
      }
      const costUsd = priced(response.usage);
      await grant.settle({ ok: true, usage: response.usage, ...(costUsd === undefined ? {} : { costUsd }) });
      return response;
    },
    async *stream(request: ModelRequest, options?: ModelCallOptions): AsyncIterable<ModelStreamEvent> {
      const grant = await reserve(request);
      let settled = false;
      try {
        for await (const event of model.stream(grant.request, options)) {
          if (event.type === 'finish' && !settled) {
            settled = true;
            const costUsd = priced(event.response.usage);
            await grant.settle({
              ok: true,
              usage: event.response.usage,
              ...(costUsd === undefined ? {} : { costUsd }),
            });
          }
          yield event;
        }
      } finally {
        if (!settled) await grant.settle({ ok: false });
      }
    },
  };
}
