import { createHash } from 'node:crypto';

/**
 * Span and trace ids derived from the journal, so that every process that exports a run's spans
 * (the worker that ran a step, the one that resumed the run after a crash) computes the same ids:
 * a resumed run's spans land in the same trace, and a span exported twice is the same span.
 */

/** The run's trace id: the first 16 bytes of sha256(run id), as 32 hex digits. */
export function traceIdOfRun(runId: string): string {
  return idsOfRun(runId).traceId;
}

/** The span id of the run's `invoke_agent` span. */
export function runSpanId(runId: string): string {
  return idsOfRun(runId).spanId;
}

/** Every span of a run needs both: computed once per run while its spans are being built. */
const recentRuns = new Map<string, { traceId: string; spanId: string }>();

function idsOfRun(runId: string): { traceId: string; spanId: string } {
  let ids = recentRuns.get(runId);
  if (ids === undefined) {
    ids = {
      traceId: nonZero(digest(runId).subarray(0, 16)),
      spanId: nonZero(digest(`keel.run\u0000${runId}`).subarray(0, 8)),
    };
    if (recentRuns.size >= 256) recentRuns.delete(recentRuns.keys().next().value!);
    recentRuns.set(runId, ids);
  }
  return ids;
}

/** The span id of one execution (`attempt`) of step `seq` of a run. */
export function stepSpanId(runId: string, seq: number, attempt: number): string {
  return nonZero(digest(`keel.step\u0000${runId}\u0000${seq}\u0000${attempt}`).subarray(0, 8));
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** An all-zero id is invalid in OpenTelemetry; one in 2^64 digests gets its last bit set. */
function nonZero(bytes: Buffer): string {
  if (bytes.every((byte) => byte === 0)) bytes[bytes.length - 1] = 1;
  return bytes.toString('hex');
}
