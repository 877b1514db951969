import { KeelError } from './keel-error.js';

/** No API key, a malformed one, or one that is unknown, revoked or expired (HTTP 401). */
export class UnauthorizedError extends KeelError {
  constructor(message = 'A valid API key is required: send "Authorization: Bearer keel_sk_...".') {
    super({ code: 'unauthorized', message, fault: 'caller' });
  }
}

/** A valid API key without the scope the operation needs (HTTP 403). */
export class ForbiddenError extends KeelError {
  constructor(required: readonly string[]) {
    super({
      code: 'forbidden',
      message: `This API key lacks the scope for this operation (one of: ${required.join(', ')}).`,
      fault: 'caller',
      details: { required: [...required] },
    });
  }
}
