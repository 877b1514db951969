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

/** A key that already holds as many open event streams as this server allows it (HTTP 429). */
export class TooManyStreamsError extends KeelError {
  constructor(limit: number) {
    super({
      code: 'too_many_streams',
      message: `This API key has ${limit} event streams open on this server, its limit: close one first.`,
      fault: 'caller',
      details: { limit },
    });
  }
}
