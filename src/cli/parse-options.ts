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
  const listenPort = Number(port ?? env.PORT ?? fallback);
  if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535)
    throw new UsageError(`--port must be 0-65535, not "${port}"`);
  return listenPort;
}
