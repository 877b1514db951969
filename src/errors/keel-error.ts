/**
 * Who is at fault when something goes wrong. The server maps this (with the code) to an HTTP
 * status in one place; operators use it to decide whom to page.
 */
export type Fault = 'caller' | 'model' | 'provider' | 'tool' | 'system';

/** Options shared by every Keel error. */
export interface KeelErrorOptions {
  /** Stable machine-readable code, e.g. `unknown_agent`. Never changes once published. */
  code: string;
  message: string;
  fault: Fault;
  /** Whether retrying the same operation later may succeed. */
  retryable?: boolean;
  /** Structured fields that explain the error (ids, names, limits). Never secrets or payloads. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * The one base error of Keel. Every error Keel throws on purpose is a KeelError with a stable
 * `code`; anything else reaching a boundary is wrapped as `internal_error`.
 */
export class KeelError extends Error {
  readonly code: string;
  readonly fault: Fault;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor({ code, message, fault, retryable = false, details = {}, cause }: KeelErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
    this.fault = fault;
    this.retryable = retryable;
    this.details = details;
  }

  /** A JSON-safe description, as stored in the journal and returned by the API. */
  toJSON(): SerializedError {
    return {
      code: this.code,
      message: this.message,
      fault: this.fault,
      retryable: this.retryable,
      details: this.details,
    };
  }
}

/** The stored and transmitted form of an error. */
export interface SerializedError {
  code: string;
  message: string;
  fault: Fault;
  retryable: boolean;
  details?: Record<string, unknown>;
}

/** True for any KeelError (also across duplicated module instances, by shape). */
export function isKeelError(value: unknown): value is KeelError {
  return (
    value instanceof KeelError ||
    (value instanceof Error &&
      typeof (value as Partial<KeelError>).code === 'string' &&
      typeof (value as Partial<KeelError>).fault === 'string')
  );
}

/** Turns anything thrown into a serialized error without losing the message. */
export function serializeError(error: unknown): SerializedError {
  if (isKeelError(error)) return error.toJSON();
  if (error instanceof Error) {
    return { code: 'internal_error', message: error.message, fault: 'system', retryable: false };
  }
  return { code: 'internal_error', message: String(error), fault: 'system', retryable: false };
}
