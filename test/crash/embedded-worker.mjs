/**
 * A worker on an embedded (PGlite) store for the embedded restart test: it opens the Keel folder
 * KEEL_DATA_DIR, claims the run with a 10 min lease and blocks for good inside its tool, having
 * printed `{"event":"blocked",...}`. The test SIGKILLs it there.
 */
import { createScriptedModel, defineAgent, defineTool, z } from '../../dist/index.js';
import { openWorkerStores, runWorker, workerScript } from './worker-kit.mjs';

const script = workerScript('embedded-worker');
script.required('KEEL_DATA_DIR');

const wait = defineTool({
  name: 'wait',
  description: 'Blocks for good (the test kills the process here).',
  input: z.object({}),
  effect: 'write',
  run: () => {
    script.emit({ event: 'blocked' });
    return new Promise(() => {});
  },
});

const agent = defineAgent({
  name: 'embedded-agent',
  instructions: 'Wait.',
  model: createScriptedModel({ replies: [{ toolCalls: [{ name: 'wait', arguments: {} }] }, 'done'] }),
  tools: [wait],
});

runWorker(script, await openWorkerStores(script), { agents: [agent], leaseMs: 600_000 });
