import { CassetteInvalidError, type Cassette } from '../cassettes/cassette.js';
import { KeelError } from '../errors/keel-error.js';
import { createScriptedModel, type ScriptedModel, type ScriptedReply } from '../model/builtin-model.js';
import { storedModelResponseSchema } from '../model/stored-model-response.js';

/** Options of {@link scriptedModelFromCassette}. */
export interface ScriptedModelFromCassetteOptions {
  cassette: Cassette;
  /** Reported model id. Default: the one the first recorded model step answered with. */
  modelId?: string;
}

/**
 * A scripted model whose replies are the cassette's model answers, in order: text, tool calls
 * (with their recorded ids), finish reason and token counts. It drives a run of changed code
 * (other instructions, another tool, a new guard) with the answers the model gave when the run
 * was recorded, where `replayCassette` would stop at the first step that differs.
 *
 * Like every scripted model it answers by turn, the number of assistant messages in the
 * request, offset by the session exchanges the recorded run started from (each adds one
 * assistant message to its requests): a run driven by it must start from the same session
 * history, or its first call fails with `cassette_session_mismatch`. Model steps that failed and
 * were asked again (a budget held for approval) gave no answer and are skipped; a failed model
 * step that ended the run fails its turn again with the recorded error. It costs nothing
 * (provider `builtin`).
 */
export function scriptedModelFromCassette({
  cassette,
  modelId,
}: ScriptedModelFromCassetteOptions): ScriptedModel {
  const answers: ScriptedReply[] = [];
  let recordedModelId: string | undefined;
  const modelSteps = cassette.steps.filter((step) => step.kind === 'model');
  modelSteps.forEach((step, index) => {
    const field = `steps.${cassette.steps.indexOf(step)}.output`;
    if (step.status === 'failed') {
      if (index === modelSteps.length - 1 && step.error) answers.push(new KeelError(step.error));
      return;
    }
    const parsed = storedModelResponseSchema.safeParse(step.output);
    if (!parsed.success) throw new CassetteInvalidError(field, 'not a recorded model answer');
    const { message, finishReason, usage, modelId: answeredBy } = parsed.data;
    recordedModelId ??= answeredBy;
    answers.push({
      text: message.content,
      toolCalls: (message.toolCalls ?? []).map(({ id, name, arguments: text }) => ({
        id,
        name,
        arguments: text,
      })),
      finishReason,
      usage,
    });
  });
  const exchanges = cassette.session.length;
  // One turn per earlier exchange: reaching one means the request lacks the session history.
  const missingHistory: ScriptedReply = (request) => {
    const held = request.messages.filter((message) => message.role === 'assistant').length;
    throw new KeelError({
      code: 'cassette_session_mismatch',
      message:
        `The cassette's run started from ${exchanges} earlier exchange(s) of its session, but the model ` +
        `was asked with ${held} assistant message(s) before its first answer: start the run from the same session history.`,
      fault: 'caller',
      details: { sessionExchanges: exchanges, assistantMessages: held },
    });
  };
  return createScriptedModel({
    modelId: modelId ?? recordedModelId ?? 'scripted',
    replies: [...Array.from({ length: exchanges }, () => missingHistory), ...answers],
  });
}
