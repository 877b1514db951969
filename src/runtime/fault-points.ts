/**
 * Named points in the executor where tests inject faults (a crash test SIGKILLs its own worker
 * at one of them). In production the hook is absent and each point costs one comparison.
 */
export type FaultPoint =
  | 'before-model-call'
  | 'after-model-call'
  | 'before-tool-call'
  | 'inside-tool'
  | 'after-tool-call'
  | 'during-journal-append'
  | 'before-run-end';

/** Called at every fault point with the run and the step it is about. */
export type FaultHook = (point: FaultPoint, context: { runId: string; seq?: number }) => void | Promise<void>;
