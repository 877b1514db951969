import { RunNotFoundError } from '../../errors/storage-errors.js';
import { createRunOutcomes } from '../../feedback/outcomes.js';
import { buildRunTrace, type RunTrace } from '../../server/run-trace.js';
import { openBackend, type Backend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderTrace } from '../render-trace.js';
import { UsageError } from '../usage-error.js';

/** `keel trace <run-id>`: a run's trace as a tree of steps, or (`--json`) as the API returns it. */
export async function traceCommand(
  { runId, json }: { runId?: string; json: boolean },
  io: CliIo,
): Promise<number> {
  if (!runId) throw new UsageError('Usage: keel trace <run-id> [--json]');
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    const trace = await fetchTrace(backend, runId);
    if (!trace) throw new RunNotFoundError(runId);
    io.stdout.write(json ? JSON.stringify(trace) + '\n' : renderTrace(trace));
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

/** A run's trace from either backend: the server's endpoint, or built here from the journal. */
async function fetchTrace(backend: Backend, runId: string): Promise<RunTrace | undefined> {
  if (backend.mode === 'remote') return backend.api.getTrace(runId);
  const run = await backend.store.getRun(runId);
  if (!run) return undefined;
  const [steps, outcome] = await Promise.all([
    backend.store.loadSteps(runId),
    createRunOutcomes({ client: backend.client }).get(runId, { tenantId: run.tenantId }),
  ]);
  return buildRunTrace({ run, steps, outcome, now: new Date() });
}
