import { KeelError } from '../errors/keel-error.js';

/** A command line that cannot be run as given. */
export class UsageError extends KeelError {
  constructor(message: string) {
    super({ code: 'usage', message, fault: 'caller' });
  }
}
