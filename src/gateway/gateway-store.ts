import type { ModelResponse } from '../model/model.js';
import type { CallMeta } from './gateway-types.js';

/**
 * The gateway's shared state, kept in the same database as the journal so that any number of
 * gateway processes share one set of limits, one cache and one call log. Each piece is a small
 * interface with one SQL implementation over `SqlClient` (PGlite and Postgres).
 */

/** One limit to reserve against, e.g. `deployment:gpt4o-east` or `key:key_123`. */
export interface LimitScope {
  scope: string;
  /** Requests per minute; undefined = no request limit for this scope. */
  rpm?: number;
  /** Tokens per minute; undefined = no token limit for this scope. */
  tpm?: number;
}

export type Reservation = { id: string; scopes: string[]; tokens: number; windowStart: number };

export type ReserveResult =
  | { ok: true; reservation: Reservation }
  | { ok: false; scope: string; retryAfterMs: number; limit: 'rpm' | 'tpm' };

/**
 * Requests and tokens per minute, reserved before a call and settled after it, atomically in
 * the shared store (never check-then-record, so concurrent callers cannot overshoot a limit).
 */
export interface RateLimiter {
  /** Reserves one request and `tokens` tokens in every scope, all or nothing. */
  reserve(scopes: readonly LimitScope[], tokens: number): Promise<ReserveResult>;
  /** Corrects the reservation to the tokens actually used (may free or add tokens). */
  settle(reservation: Reservation, actualTokens: number): Promise<void>;
}

/** Exact-match response cache; keys are hashes of the canonical full request. */
export interface ResponseCache {
  get(key: string): Promise<ModelResponse | undefined>;
  set(key: string, response: ModelResponse, ttlMs: number): Promise<void>;
}

/** A recorded gateway call (outside a run; calls inside a run are journal steps). */
export interface CallRecord extends CallMeta {
  id: string;
  tenantId: string | null;
  keyId: string | null;
  runId: string | null;
  stepSeq: number | null;
  /** The end user (a developer) the call was made for, when the caller named one. */
  userId?: string;
  /** The session (a coding agent's conversation) the call belongs to, when the caller named one. */
  sessionId?: string;
  /** 'chat' | 'messages' | 'responses' | 'embeddings' | 'agent' */
  endpoint: string;
  startedAt: Date;
}

/** Records calls off the hot path: `record` never waits on the database. */
export interface CallRecorder {
  record(call: CallRecord): void;
  /** Writes what is buffered (also done on a timer and on close). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
