// Config of the `keel serve` the API benchmark starts (see keel.js):
//   DATABASE_URL=... (or KEEL_DATA_DIR=...) node bin/keel.js serve --port P --workers N --config bench/api/keel.config.js
// One agent, `bench3`: an instant hand-written model (no provider, no work beyond counting)
// asks for the no-op tool once, then answers 'done'. Three durable steps per run: model, tool,
// model; the same three DBOS steps in dbos.js.
import { defineAgent, defineTool, z } from 'keel';

const noop = defineTool({
  name: 'noop',
  description: 'no-op',
  input: z.object({}),
  run: () => ({ ok: true }),
});

const model = {
  provider: 'builtin',
  modelId: 'instant',
  async generate(request) {
    const done = request.messages.some((m) => m.role === 'tool');
    return {
      message: done
        ? { role: 'assistant', content: 'done' }
        : { role: 'assistant', content: '', toolCalls: [{ id: 'call_0', name: 'noop', arguments: '{}' }] },
      finishReason: done ? 'stop' : 'tool_calls',
      usage: { inputTokens: 1, outputTokens: 1 },
      modelId: 'instant',
    };
  },
  // `keel serve` streams model calls (their text reaches the run's event stream): the same answer,
  // as a stream that is over at once.
  async *stream(request) {
    const response = await model.generate(request);
    if (response.message.content !== '') yield { type: 'text-delta', text: response.message.content };
    yield { type: 'finish', response };
  },
};

export const agents = [
  defineAgent({
    name: 'bench3',
    instructions: 'bench',
    model,
    tools: [noop],
    limits: { maxSteps: 2, loopThreshold: 3 },
  }),
];

export default { agents };
