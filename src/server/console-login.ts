/**
 * The console's one-time sign-in link. On the embedded default, `keel serve` prints
 * `http://127.0.0.1:4000/#login=<token>`: the token lives in this process's memory only, for a
 * short while, and works once. The console posts it to `POST /v1/console/session`, which mints a
 * short-lived API key (audited as any key) and answers it; the app keeps the key in
 * `sessionStorage` and clears the link from the address bar, so no credential stays in the URL.
 * The token travels in the fragment, which browsers never send to a server nor in a Referer.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { KeelError } from '../errors/keel-error.js';
import type { ApiKeyRecord, ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import { systemClock, type Clock } from '../util/clock.js';

/** Issues sign-in tokens and exchanges one, once, for a short-lived key. */
export interface ConsoleLogin {
  /**
   * A fresh one-time token and when it stops working. Its session works in `session.tenantId`
   * with `session.scopes` (default: the login's tenant and scopes); `keel console` asks for one
   * as the calling key: its tenant, and no scope it lacks.
   */
  issue(session?: LinkSession): { token: string; expiresAt: Date };
  /** The key a valid, unused, unexpired token buys; `login_link_invalid` otherwise. */
  exchange(token: string): Promise<{ key: string; record: ApiKeyRecord }>;
}

/** Whom a link signs in: the session key's tenant and scopes, and who asked for the link. */
export interface LinkSession {
  tenantId: string;
  scopes: readonly ApiKeyScope[];
  /** The audit actor of the session key's creation (default `system:console-login`). */
  actor?: string;
}

export interface ConsoleLoginOptions {
  apiKeys: Pick<ApiKeys, 'create'>;
  /** The tenant a session works in unless `issue` names one (default `default`, the embedded database's). */
  tenantId?: string;
  /** What the session may do (default: `admin` and `metrics`, the local operator's console). */
  scopes?: readonly ApiKeyScope[];
  /** How long a printed link works (default 15 minutes). */
  linkTtlMs?: number;
  /** How long the session's key works (default 12 hours). */
  sessionTtlMs?: number;
  clock?: Clock;
}

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

export function createConsoleLogin({
  apiKeys,
  tenantId = 'default',
  scopes = ['admin', 'metrics'],
  linkTtlMs = 15 * 60_000,
  sessionTtlMs = 12 * 3_600_000,
  clock = systemClock,
}: ConsoleLoginOptions): ConsoleLogin {
  /** Unused tokens by their digest (never the token itself), with their expiry (ms). */
  const pending = new Map<string, { hash: Buffer; expiresAt: number; session: LinkSession }>();
  const invalid = () =>
    new KeelError({
      code: 'login_link_invalid',
      message:
        'This sign-in link is unknown, already used or expired. Restart `keel serve` for a new one, or sign in with an API key.',
      fault: 'caller',
    });
  return {
    issue(session: LinkSession = { tenantId, scopes }) {
      const token = randomBytes(24).toString('base64url');
      const expiresAt = clock.now() + linkTtlMs;
      const hash = digest(token);
      // Forget the links nobody followed, so a long-lived server holds only live ones.
      for (const [id, entry] of pending) if (entry.expiresAt <= clock.now()) pending.delete(id);
      pending.set(hash.toString('hex'), { hash, expiresAt, session });
      return { token, expiresAt: new Date(expiresAt) };
    },
    async exchange(token) {
      const hash = digest(token);
      const entry = pending.get(hash.toString('hex'));
      if (entry === undefined || !timingSafeEqual(entry.hash, hash)) throw invalid();
      pending.delete(hash.toString('hex'));
      if (entry.expiresAt <= clock.now()) throw invalid();
      return apiKeys.create({
        tenantId: entry.session.tenantId,
        name: 'console session',
        scopes: entry.session.scopes,
        expiresAt: new Date(clock.now() + sessionTtlMs),
        actor: entry.session.actor ?? 'system:console-login',
      });
    },
  };
}
