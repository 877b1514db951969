/**
 * Configuring a provider adapter: reading its defaults from the environment.
 */

/** Like the official SDKs: trimmed, and empty means unset. */
export function readEnv(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  return env[name]?.trim() || undefined;
}
