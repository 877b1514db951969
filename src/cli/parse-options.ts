import { isIP } from 'node:net';
import { corsFromEnv, type CorsOptions } from '../server/cors.js';
import { UsageError } from './usage-error.js';

/**
 * A positive integer given as `label` (a flag such as `--workers`, or an environment variable),
 * or undefined when it was not given; anything else is a usage error naming it.
 */
export function positiveIntegerOf(label: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new UsageError(`${label} must be a positive integer, not "${value}"`);
  return number;
}

/** A positive integer flag `--name`, or `fallback` when it was not given. */
export function positiveInteger(name: string, value: string | undefined, fallback: number): number {
  return positiveIntegerOf(`--${name}`, value) ?? fallback;
}

/** A positive integer environment variable; unset or blank means undefined. */
export function positiveIntegerEnv(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): number | undefined {
  const value = env[name]?.trim();
  return positiveIntegerOf(name, value === '' ? undefined : value);
}

/** The port to listen on: `--port`, else `PORT`, else `fallback`; 0 picks a free one. */
export function listenPortOf(
  port: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  fallback: number,
): number {
  const given = port ?? env.PORT;
  const listenPort = given === undefined || given.trim() === '' ? fallback : Number(given);
  if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535)
    throw new UsageError(`${port === undefined ? 'PORT' : '--port'} must be 0-65535, not "${given}"`);
  return listenPort;
}

const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The address to listen on: `--host` (an IP address or a host name), else 127.0.0.1. */
export function listenHostOf(host: string | undefined): string {
  if (host === undefined) return '127.0.0.1';
  if (isIP(host) === 0 && !HOST_NAME.test(host))
    throw new UsageError(`--host must be an IP address or a host name, not "${host}"`);
  return host;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];

/** Checks `KEEL_LOG_LEVEL` (a typo would otherwise silently log at `info`). */
export function checkLogLevelEnv(env: Readonly<Record<string, string | undefined>>): void {
  const level = env.KEEL_LOG_LEVEL;
  if (level !== undefined && level !== '' && !LOG_LEVELS.includes(level))
    throw new UsageError(`KEEL_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not "${level}"`);
}

/** `KEEL_CORS_ORIGINS`, each origin checked (`*`, or `http(s)://host[:port]` without a path). */
export function corsOriginsEnv(env: Readonly<Record<string, string | undefined>>): CorsOptions | undefined {
  const cors = corsFromEnv(env.KEEL_CORS_ORIGINS);
  if (cors === undefined || cors.origins === '*') return cors;
  for (const origin of cors.origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin)
      throw new UsageError(
        `KEEL_CORS_ORIGINS must list origins such as https://app.example.com (or be *), not "${origin}"`,
      );
  }
  return cors;
}

/** `KEEL_METRICS_PUBLIC`: `true` serves `/metrics` without a key; unset, blank or `false` does not. */
export function metricsPublicEnv(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = env.KEEL_METRICS_PUBLIC?.trim() ?? '';
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw new UsageError(`KEEL_METRICS_PUBLIC must be true or false, not "${value}"`);
}
