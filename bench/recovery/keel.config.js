// Config of the Keel workers the recovery benchmark starts:
//   DATABASE_URL=... node bin/keel.js worker --config bench/recovery/keel.config.js --concurrency 1
// One agent, `recovery`: its scripted model calls the `slow` tool (an effect) once, then answers 'done'.
// The tool sleeps KEEL_BENCH_TOOL_SLEEP_MS (long in the worker that gets killed, 0 in the one
// that recovers the run).
import { setTimeout as sleep } from 'node:timers/promises';
import { createScriptedModel, defineAgent, defineTool, z } from 'keel';

const sleepMs = Number(process.env.KEEL_BENCH_TOOL_SLEEP_MS ?? 0);

const slow = defineTool({
  name: 'slow',
  description: 'Sleeps, then answers ok.',
  input: z.object({}),
  // An effect: journaled `started` before it runs, so the kill lands inside a started step.
  effect: 'write',
  run: async (_args, ctx) => {
    await sleep(sleepMs, undefined, { signal: ctx.signal });
    return { ok: true };
  },
});

const model = createScriptedModel({
  respond: (request) =>
    request.messages.some((m) => m.role === 'tool')
      ? { text: 'done' }
      : { toolCalls: [{ name: 'slow', arguments: {} }] },
});

export const agents = [
  defineAgent({
    name: 'recovery',
    instructions: 'bench',
    model,
    tools: [slow],
    limits: { maxSteps: 3, toolTimeoutMs: 120_000 },
  }),
];

export default { agents };
