import { KeelError } from './keel-error.js';

/** A session id with no run for the caller's tenant (another tenant's session included). */
export class SessionNotFoundError extends KeelError {
  constructor(sessionId: string) {
    super({
      code: 'session_not_found',
      message: `Session ${sessionId} not found.`,
      fault: 'caller',
      details: { sessionId },
    });
  }
}

/**
 * A message for a session whose previous message is still being answered, sent with the
 * `reject` session policy. Retryable: the session frees up when its active run ends.
 */
export class SessionBusyError extends KeelError {
  constructor(sessionId: string, activeRunIds: readonly string[]) {
    super({
      code: 'session_busy',
      message: `Session ${sessionId} has a run still active (${activeRunIds.join(', ')}); retry once it ends.`,
      fault: 'caller',
      retryable: true,
      details: { sessionId, activeRunIds: [...activeRunIds] },
    });
  }
}
