import type { SerializedError } from '../errors/keel-error.js';
import type { ApprovalStatus, StopReason } from '../journal/types.js';
import type { Usage } from '../model/model.js';

/**
 * Live events of a run, in one vocabulary (noun-verb). They carry ids and summaries, never raw
 * payloads: a listener that wants content reads it from the journal with its own permissions.
 * `text-delta` is the one exception, for callers streaming the answer they asked for.
 */
export type RunEvent =
  | { type: 'run-start'; runId: string; agent: string; attempt: number; replayedSteps: number }
  | {
      type: 'step-start';
      runId: string;
      seq: number;
      kind: string;
      name: string;
      replayed: boolean;
    }
  | {
      type: 'step-end';
      runId: string;
      seq: number;
      kind: string;
      name: string;
      status: 'completed' | 'failed';
      replayed: boolean;
      durationMs: number;
      usage?: Usage;
      costUsd?: number;
      error?: SerializedError;
    }
  | {
      type: 'text-delta';
      runId: string;
      seq: number;
      /** The model call's attempt within the step (1, 2... when a failed call is retried). */
      attempt: number;
      text: string;
    }
  | {
      /** The run suspended: this tool call waits for a human decision. */
      type: 'approval-request';
      runId: string;
      approvalId: string;
      seq: number;
      tool: string;
      expiresAt: string | null;
    }
  | {
      /** The run resumed and took a decision (approved, rejected or expired) into account. */
      type: 'approval-decision';
      runId: string;
      approvalId: string;
      seq: number;
      tool: string;
      decision: Exclude<ApprovalStatus, 'pending'>;
      decidedBy: string | null;
      reason: string | null;
    }
  | {
      /** The run stopped executing without ending: it waits for approvals and holds no worker. */
      type: 'run-suspend';
      runId: string;
      approvalIds: string[];
    }
  | {
      /**
       * The run stopped executing without ending: a model call failed with a retryable error and
       * the run waits (holding no worker) until `until` to retry it.
       */
      type: 'run-wait';
      runId: string;
      /** The code of the error waited out. */
      reason: string;
      /** ISO time before which no worker resumes the run. */
      until: string;
      seq: number;
      /** Model calls the step has made so far. */
      attempts: number;
    }
  | {
      type: 'run-end';
      runId: string;
      stopReason: StopReason;
      usage: Usage;
      costUsd: number;
      error?: SerializedError;
    };

/** A function that receives a run's events (`onEvent`). */
export type RunEventListener = (event: RunEvent) => void;
