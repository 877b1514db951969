/**
 * Configuring a provider adapter: reading its defaults from the environment, and checking the
 * endpoints it will call before the first call is made.
 */
import { ModelConfigError } from '../errors/model-errors.js';

/** Like the official SDKs: trimmed, and empty means unset. */
export function readEnv(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  return env[name]?.trim() || undefined;
}

/** Options of {@link resolveEndpoints}. */
export interface ResolveEndpointsOptions<Name extends string> {
  provider: string;
  model: string;
  /** As configured; trailing slashes are dropped before each path is appended. */
  baseURL: string;
  /** The paths below the base URL, by name, e.g. `{ messages: 'v1/messages' }`. */
  paths: Record<Name, string>;
  apiKey: string | undefined;
  /** The official API, which is never called without a key. */
  officialBaseURL: string;
  /** The official API's name in the error message: `OpenAI`, `Anthropic`, `Gemini`. */
  service: string;
  /** The variables that may hold the key, as the error message names them; the first is the error's `details.variable`. */
  keyVariables: readonly [string, ...string[]];
}

/**
 * The endpoints of an adapter, checked: ModelConfigError for an empty model id, for a base URL
 * that makes no valid URL, and for calling the official API's host without a key.
 */
export function resolveEndpoints<Name extends string>({
  provider,
  model,
  baseURL,
  paths,
  apiKey,
  officialBaseURL,
  service,
  keyVariables: [variable, ...alternatives],
}: ResolveEndpointsOptions<Name>): Record<Name, URL> {
  if (model.trim() === '') throw new ModelConfigError('The model id must not be empty.', { provider });
  const base = baseURL.replace(/\/+$/, '');
  const endpoints = {} as Record<Name, URL>;
  try {
    for (const name of Object.keys(paths) as Name[]) endpoints[name] = new URL(`${base}/${paths[name]}`);
  } catch {
    throw new ModelConfigError(`The base URL "${baseURL}" is not a valid URL.`, { provider, model });
  }
  const officialHost = new URL(officialBaseURL).hostname;
  if (apiKey === undefined && Object.values<URL>(endpoints).some((url) => url.hostname === officialHost)) {
    const or = alternatives.length === 0 ? '' : ` (or ${alternatives.join(' or ')})`;
    throw new ModelConfigError(
      `Model ${provider}:${model} calls the ${service} API but has no API key: pass apiKey or set ${variable}${or}.`,
      { provider, model, variable },
    );
  }
  return endpoints;
}
