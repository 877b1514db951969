/**
 * A worker on an embedded (PGlite) store for the embedded restart test: it opens KEEL_DATA_DIR,
 * claims the run with a 10 min lease and blocks for good inside its tool, having printed
 * `{"event":"blocked","owner":...}`. The test SIGKILLs it there.
 */
import { writeSync } from 'node:fs';
import {
  createJsonLogger,
  createScriptedModel,
  createWorker,
  defineAgent,
  defineTool,
  openStore,
  z,
} from '../../dist/index.js';

const dataDir = process.env.KEEL_DATA_DIR;
if (!dataDir) {
  writeSync(2, 'embedded-worker: KEEL_DATA_DIR is required\n');
  process.exit(2);
}
const owner = `embedded:${process.pid}`;

const wait = defineTool({
  name: 'wait',
  description: 'Blocks for good (the test kills the process here).',
  input: z.object({}),
  effect: 'write',
  run: () => {
    writeSync(1, JSON.stringify({ event: 'blocked', owner }) + '\n');
    return new Promise(() => {});
  },
});

const agent = defineAgent({
  name: 'embedded-agent',
  instructions: 'Wait.',
  model: createScriptedModel({ replies: [{ toolCalls: [{ name: 'wait', arguments: {} }] }, 'done'] }),
  tools: [wait],
});

const { store } = await openStore({ dataDir });
createWorker({
  store,
  agents: [agent],
  owner,
  leaseMs: 600_000,
  logger: createJsonLogger({ level: 'warn' }),
}).start();
