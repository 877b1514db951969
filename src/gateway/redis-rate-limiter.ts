import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../util/clock.js';
import { createId } from '../util/ids.js';
import type { IdGenerator } from '../util/ids.js';
import { RateLimiterUnavailableError } from './gateway-errors.js';
import type { LimitScope, RateLimiter, ReserveResult } from './gateway-store.js';
import type { RedisFailurePolicy, RedisFailureReporter } from './redis-failures.js';
import { msUntilFree, normalizeScopes, RATE_WINDOW_MS } from './sql-rate-limiter.js';

/** Options of {@link createRedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  redis: Redis;
  /** Prefix of every key (default `keel:`); tests use their own and delete their keys. */
  keyPrefix?: string;
  /**
   * Where windows come from. Leave unset in production: the Redis server's clock (`TIME`) is the
   * one clock every gateway process shares. Tests pass a fake clock.
   */
  clock?: Clock;
  generateId?: IdGenerator;
  /** What a reserve does when Redis fails (default `closed`, as the SQL limiter). */
  onError?: RedisFailurePolicy;
  /** Counts and logs failures (see `createRedisFailureReporter`); default: none. */
  report?: RedisFailureReporter;
}

/** A scope's key lives this long after its last admitted reserve: both its windows are over by then. */
const KEY_TTL_MS = 3 * RATE_WINDOW_MS;

/**
 * KEYS: the scopes' keys (sorted, distinct). ARGV: now in ms ('' = the server's clock), the token
 * estimate, the keys' time to live, then rpm and tpm of each scope ('' = no limit).
 * Each key is a hash holding what the SQL limiter's row holds: `w` (window start, ms), `r` and
 * `t` (requests and tokens in it), `pr` and `pt` (the previous minute's totals). The window
 * rolls, every limit is checked, and only if all pass are all keys written: a script runs alone
 * on the server, so it is as atomic as the SQL statement without any lock.
 * Returns: admitted (1/0), the latest window start, then per scope rpm_ok, tpm_ok, elapsed ms,
 * requests, tokens, previous requests, previous tokens (integers: Lua numbers are truncated).
 */
const RESERVE_SCRIPT = `
local W = ${RATE_WINDOW_MS}
local now = tonumber(ARGV[1])
if now == nil then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local tokens = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local current = now - (now % W)
local admitted = 1
local latest = 0
local states = {}
local out = {}
for i = 1, #KEYS do
  local rpm = tonumber(ARGV[2 + 2 * i])
  local tpm = tonumber(ARGV[3 + 2 * i])
  local h = redis.call('HMGET', KEYS[i], 'w', 'r', 't', 'pr', 'pt')
  local w = tonumber(h[1])
  local r, t, pr, pt = 0, 0, 0, 0
  if w == nil then
    w = current
  elseif w >= current then
    r, t = tonumber(h[2]) or 0, tonumber(h[3]) or 0
    pr, pt = tonumber(h[4]) or 0, tonumber(h[5]) or 0
  elseif w == current - W then
    pr, pt = tonumber(h[2]) or 0, tonumber(h[3]) or 0
    w = current
  else
    w = current
  end
  local elapsed = now - w
  local weight = 1 - math.min(1, math.max(0, elapsed / W))
  local rpm_ok = rpm == nil or pr * weight + r + 1 <= rpm
  local tpm_ok = tpm == nil or pt * weight + t + tokens <= tpm
  if not (rpm_ok and tpm_ok) then admitted = 0 end
  if w > latest then latest = w end
  states[i] = { w, r, t, pr, pt }
  table.insert(out, rpm_ok and 1 or 0)
  table.insert(out, tpm_ok and 1 or 0)
  table.insert(out, elapsed)
  table.insert(out, r)
  table.insert(out, t)
  table.insert(out, pr)
  table.insert(out, pt)
end
if admitted == 1 then
  for i = 1, #KEYS do
    local s = states[i]
    redis.call('HSET', KEYS[i],
      'w', string.format('%.0f', s[1]),
      'r', string.format('%.0f', s[2] + 1),
      't', string.format('%.0f', s[3] + tokens),
      'pr', string.format('%.0f', s[4]),
      'pt', string.format('%.0f', s[5]))
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
table.insert(out, 1, latest)
table.insert(out, 1, admitted)
return out`;

/**
 * KEYS: the reservation's keys. ARGV: its window start (ms), the token correction. As the SQL
 * settle: to the current totals if the window is the reservation's, to the previous ones if it
 * has rolled once since, nowhere once that window is gone too (or the key expired).
 */
const SETTLE_SCRIPT = `
local start = tonumber(ARGV[1])
local delta = tonumber(ARGV[2])
for i = 1, #KEYS do
  local h = redis.call('HMGET', KEYS[i], 'w', 't', 'pt')
  local w = tonumber(h[1])
  if w == start then
    redis.call('HSET', KEYS[i], 't', string.format('%.0f', math.max(0, (tonumber(h[2]) or 0) + delta)))
  elseif w == start + ${RATE_WINDOW_MS} then
    redis.call('HSET', KEYS[i], 'pt', string.format('%.0f', math.max(0, (tonumber(h[3]) or 0) + delta)))
  end
end
return 1`;

/** A Lua script run by its SHA-1 (loaded on first use, and again after a server restart). */
function createScript(source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (redis: Redis, keys: readonly string[], args: readonly (string | number)[]) => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await redis.eval(source, keys.length, ...keys, ...args);
    }
  };
}

const reserveScript = createScript(RESERVE_SCRIPT);
const settleScript = createScript(SETTLE_SCRIPT);

/** The key of a scope's windows. */
export function rateLimitKey(keyPrefix: string, scope: string): string {
  return `${keyPrefix}rate:${scope}`;
}

/**
 * The rate limiter over Redis: the SQL limiter's algorithm (sliding window over one-minute
 * windows, reserve all scopes or none, settle to the real usage) in two Lua scripts, one round
 * trip per reserve and per settle, no lock and no commit. Postgres stays the store of record for
 * calls and budgets; limits are counters that may be lost with Redis (a restart forgets at most
 * the current and previous minute).
 *
 * Failures (Redis down, a command past its timeout): counted and logged by `report`; a reserve
 * then follows `onError` (`closed`: `RateLimiterUnavailableError`; `open`: admitted with a
 * reservation of no scopes, so its settle does nothing); a settle is dropped.
 */
export function createRedisRateLimiter({
  redis,
  keyPrefix = 'keel:',
  clock,
  generateId = createId,
  onError = 'closed',
  report = () => {},
}: RedisRateLimiterOptions): RateLimiter {
  const windowOf = (now: number) => Math.floor(now / RATE_WINDOW_MS) * RATE_WINDOW_MS;
  const unlimited = (tokens: number) => ({
    ok: true as const,
    reservation: {
      id: generateId('rsv'),
      scopes: [],
      tokens,
      windowStart: windowOf(clock?.now() ?? Date.now()),
    },
  });

  return {
    async reserve(scopes, tokens) {
      const limited = normalizeScopes(scopes);
      const estimate = Math.max(0, Math.ceil(tokens));
      if (limited.length === 0) return unlimited(estimate);
      const names = limited.map((scope) => scope.scope);
      const args: (string | number)[] = [clock === undefined ? '' : clock.now(), estimate, KEY_TTL_MS];
      for (const scope of limited) args.push(scope.rpm ?? '', scope.tpm ?? '');
      let reply: number[];
      try {
        reply = (await reserveScript(
          redis,
          names.map((name) => rateLimitKey(keyPrefix, name)),
          args,
        )) as number[];
      } catch (error) {
        if (onError === 'open') {
          report({ operation: 'reserve', outcome: 'admitted' }, error);
          return unlimited(estimate);
        }
        report({ operation: 'reserve', outcome: 'refused' }, error);
        throw new RateLimiterUnavailableError({ cause: error });
      }
      const windowStart = Number(reply[1]);
      if (Number(reply[0]) === 1) {
        return {
          ok: true,
          reservation: { id: generateId('rsv'), scopes: names, tokens: estimate, windowStart },
        };
      }
      return refusal(limited, reply.slice(2).map(Number), estimate);
    },

    async settle(reservation, actualTokens) {
      const delta = Math.max(0, Math.ceil(actualTokens)) - reservation.tokens;
      if (delta === 0 || reservation.scopes.length === 0) return;
      const keys = [...reservation.scopes].sort().map((scope) => rateLimitKey(keyPrefix, scope));
      try {
        await settleScript(redis, keys, [reservation.windowStart, delta]);
      } catch (error) {
        // Nothing to retry against: the correction is lost, the window forgets it within two minutes.
        report({ operation: 'settle', outcome: 'skipped' }, error);
      }
    },
  };
}

/** The refused limit that frees last, as the SQL limiter reports it. */
function refusal(scopes: readonly LimitScope[], states: readonly number[], estimate: number): ReserveResult {
  let worst: { scope: string; limit: 'rpm' | 'tpm'; retryAfterMs: number } | undefined;
  const consider = (scope: string, limit: 'rpm' | 'tpm', retryAfterMs: number) => {
    if (worst === undefined || retryAfterMs > worst.retryAfterMs) worst = { scope, limit, retryAfterMs };
  };
  scopes.forEach(({ scope, rpm, tpm }, index) => {
    const [rpmOk, tpmOk, elapsedMs, requests, tokens, previousRequests, previousTokens] = states.slice(
      index * 7,
      index * 7 + 7,
    ) as [number, number, number, number, number, number, number];
    if (rpmOk === 0 && rpm !== undefined) {
      const wait = msUntilFree({
        current: requests,
        previous: previousRequests,
        need: 1,
        limit: rpm,
        elapsedMs,
      });
      consider(scope, 'rpm', wait);
    }
    if (tpmOk === 0 && tpm !== undefined) {
      const wait = msUntilFree({
        current: tokens,
        previous: previousTokens,
        need: estimate,
        limit: tpm,
        elapsedMs,
      });
      consider(scope, 'tpm', wait);
    }
  });
  return {
    ok: false,
    ...(worst ?? { scope: scopes[0]?.scope ?? '', limit: 'rpm', retryAfterMs: RATE_WINDOW_MS }),
  };
}
