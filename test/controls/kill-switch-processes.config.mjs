/**
 * The config of the kill-switch test (kill-switch-processes.test.ts), loaded by a real
 * `keel worker` process: agent `walker`, whose model calls `lookup` twice in sequence, then
 * answers with what it got. The first `lookup` of a run holds until the test opens the run's
 * gate (a file named after the run in GATE_DIR), so the test can flip a switch while the run is
 * mid-flight; it prints `{"event":"lookup","runId","n"}` on stdout when it starts.
 *
 * Environment: GATE_DIR.
 */
import { existsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createScriptedModel, defineAgent, defineTool, z } from 'keel';

const gateDir = process.env.GATE_DIR;

const lookup = defineTool({
  name: 'lookup',
  description: 'Looks up entry n.',
  input: z.object({ n: z.number().int() }),
  run: async ({ n }, { runId, signal }) => {
    writeSync(1, `${JSON.stringify({ event: 'lookup', runId, n })}\n`);
    if (n === 1) while (!existsSync(join(gateDir, runId))) await sleep(20, undefined, { signal });
    return `entry ${n}`;
  },
});

/** Decides from the conversation alone, so concurrent runs do not share a script position. */
const model = createScriptedModel({
  respond(request) {
    const results = request.messages.filter((message) => message.role === 'tool');
    if (results.length < 2) return { toolCalls: [{ name: 'lookup', arguments: { n: results.length + 1 } }] };
    return `done: ${results.map((message) => JSON.stringify(message.content)).join(' | ')}`;
  },
});

export default {
  agents: [defineAgent({ name: 'walker', instructions: 'Look up two entries.', model, tools: [lookup] })],
};
