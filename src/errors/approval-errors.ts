import { KeelError } from './keel-error.js';

/** An approval id that does not exist (or belongs to another tenant). */
export class ApprovalNotFoundError extends KeelError {
  constructor(approvalId: string) {
    super({
      code: 'approval_not_found',
      message: `Approval ${approvalId} not found.`,
      fault: 'caller',
      details: { approvalId },
    });
  }
}

/**
 * A decision on an approval that is no longer pending: already decided differently, expired, or
 * cancelled with its run. Repeating the same decision by the same person is not an error.
 */
export class ApprovalNotPendingError extends KeelError {
  /** `status`: the approval's current status (`approved`, `rejected`, `expired`, `cancelled`). */
  constructor(approvalId: string, status: string) {
    super({
      code: 'approval_not_pending',
      message: `Approval ${approvalId} is ${status}, not pending: it cannot be decided again.`,
      fault: 'caller',
      details: { approvalId, status },
    });
  }
}

/**
 * The tool call was not approved: rejected by a person (`approval_rejected`) or left undecided
 * past its ttl (`approval_expired`). Sent back to the model as the tool result, or recorded as
 * the error of a run that ends with stop reason `rejected`.
 */
export class ApprovalRejectedError extends KeelError {
  constructor({
    code,
    tool,
    approvalId,
    reason,
    decidedBy,
  }: {
    code: 'approval_rejected' | 'approval_expired';
    tool: string;
    approvalId: string;
    reason: string | null;
    decidedBy: string | null;
  }) {
    super({
      code,
      message:
        code === 'approval_expired'
          ? `The call to "${tool}" was not approved in time (approval expired).`
          : `The call to "${tool}" was rejected${decidedBy ? ` by ${decidedBy}` : ''}${reason ? `: ${reason}` : '.'}`,
      fault: 'caller',
      details: { tool, approvalId, reason, decidedBy },
    });
  }
}
