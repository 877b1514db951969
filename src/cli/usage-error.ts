import { KeelError } from '../errors/keel-error.js';

/** A command line that cannot be run as given. */
export class UsageError extends KeelError {
  /** The usage text shown after the message (in text output only; `--json` errors leave it out). */
  readonly usage: string | undefined;

  constructor(message: string, usage?: string) {
    super({ code: 'usage', message, fault: 'caller' });
    this.usage = usage;
  }
}
