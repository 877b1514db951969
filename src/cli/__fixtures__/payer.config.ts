import { defineAgent, defineTool, z } from 'keel';
import { createScriptedModel } from 'keel/testing';

/** A tool every call of which waits for a person's approval. */
const transfer = defineTool({
  name: 'transfer',
  description: 'Moves money.',
  input: z.object({ amount: z.number() }),
  effect: 'write',
  needsApproval: true,
  run: ({ amount }) => ({ done: amount }),
});

/**
 * `payer` asks for a transfer of 500 on the user's message, then says what the tool answered
 * (the result, or the rejection): a run that suspends on an approval, for the CLI's tests.
 */
const payer = defineAgent({
  name: 'payer',
  instructions: 'Pay.',
  model: createScriptedModel({
    respond: (request) => {
      const last = request.messages.at(-1)!;
      if (last.role === 'user') return { toolCalls: [{ name: 'transfer', arguments: { amount: 500 } }] };
      return `tool said: ${String(last.content ?? '')}`;
    },
  }),
  tools: [transfer],
});

export default { agents: [payer] };
