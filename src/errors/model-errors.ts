import { KeelError, type SerializedError } from './keel-error.js';

/**
 * The provider answered with an error status or could not be reached. `retryable` follows the
 * status: 408, 409, 429 and 5xx (and network failures) are retryable, other 4xx are not.
 */
export class ProviderError extends KeelError {
  readonly status: number | undefined;
  /** Milliseconds the provider asked us to wait (Retry-After / retry-after-ms), if any. */
  readonly retryAfterMs: number | undefined;

  constructor({
    provider,
    status,
    message,
    retryAfterMs,
    code,
    cause,
  }: {
    provider: string;
    status?: number;
    message: string;
    retryAfterMs?: number;
    code?: string;
    cause?: unknown;
  }) {
    const retryable =
      status === undefined || status === 408 || status === 409 || status === 429 || status >= 500;
    super({
      code: code ?? (status === undefined ? 'provider_unreachable' : `provider_http_${status}`),
      message: `${provider}: ${message}`,
      fault: 'provider',
      retryable,
      details: { provider, status, retryAfterMs },
      cause,
    });
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The model produced something unusable (malformed JSON body, broken stream). */
export class ModelOutputError extends KeelError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super({ code: 'model_output_invalid', message, fault: 'model', retryable: true, details });
  }
}

/** A model call exceeded its timeout. */
export class ModelTimeoutError extends KeelError {
  constructor(model: string, timeoutMs: number) {
    super({
      code: 'model_timeout',
      message: `Model ${model} did not answer within ${timeoutMs} ms.`,
      fault: 'provider',
      retryable: true,
      details: { model, timeoutMs },
    });
  }
}

/** A model reference ("openai:gpt-4o") that cannot be resolved, or a missing API key. */
export class ModelConfigError extends KeelError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super({ code: 'model_config_invalid', message, fault: 'caller', details });
  }
}

/**
 * A model step used its `modelAttempts` on retryable failures. The last provider error is the
 * cause (`details.cause`); its fault is this error's fault.
 */
export class ModelAttemptsExhaustedError extends KeelError {
  constructor({ seq, attempts, cause }: { seq: number; attempts: number; cause: SerializedError }) {
    super({
      code: 'model_attempts_exhausted',
      message: `The model call of step ${seq} failed ${attempts} times (modelAttempts); last error: ${cause.message}`,
      fault: cause.fault,
      details: { seq, attempts, cause },
    });
  }
}

/**
 * A request field the provider cannot honour (see `LanguageModel.unsupportedField`): refused
 * before anything is sent, never dropped. The gateway answers it with 400 naming the field.
 */
export class UnsupportedFieldError extends KeelError {
  readonly field: string;

  constructor({
    provider,
    model,
    field,
    reason,
  }: {
    provider: string;
    model: string;
    field: string;
    reason: string;
  }) {
    super({
      code: 'unsupported_field',
      message: `${provider} model ${model} cannot honour ${field}: ${reason}`,
      fault: 'caller',
      details: { provider, model, field },
    });
    this.field = field;
  }
}
