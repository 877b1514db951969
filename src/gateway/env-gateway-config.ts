/**
 * The gateway with no `gateway` section: routes built from the provider keys in the environment,
 * as LiteLLM and Portkey proxy with none. Each provider whose key is set gets one passthrough
 * deployment (named after the provider, `model: '*'`) behind a pattern route, so any model name
 * of that provider passes through:
 *
 * - `ANTHROPIC_API_KEY` → `claude-*` on Anthropic (`ANTHROPIC_BASE_URL` honoured);
 * - `GEMINI_API_KEY` (or `GOOGLE_API_KEY`) → `gemini-*` on Gemini (`GEMINI_BASE_URL` honoured);
 * - `OPENAI_API_KEY` → `*`, every other name, on OpenAI (`OPENAI_BASE_URL` honoured); with
 *   `OPENAI_BASE_URL` alone, the same on that OpenAI-compatible server, without a key.
 *
 * Which variables hold each provider's key is resolve-model's table (`PROVIDER_KEY_VARIABLES`),
 * the one agents' `provider:model` references use. A config's `gateway` section replaces all of
 * this: the two never mix, so what a config says is exactly what runs.
 */
import { KeelError } from '../errors/keel-error.js';
import { readEnv } from '../model/provider-config.js';
import { DEFAULT_ANTHROPIC_BASE_URL } from '../model/providers/anthropic/adapter.js';
import { DEFAULT_GEMINI_BASE_URL } from '../model/providers/gemini/adapter.js';
import { DEFAULT_OPENAI_BASE_URL } from '../model/providers/openai/adapter.js';
import { PROVIDER_KEY_VARIABLES } from '../model/resolve-model.js';
import type { DeploymentConfig, GatewayConfigInput } from './gateway-config.js';
import { PASSTHROUGH_MODEL } from './route-patterns.js';

/** One provider the environment configured: what the start-up banner says of it. */
export interface EnvProviderRoute {
  provider: 'openai' | 'openai-compatible' | 'anthropic' | 'gemini';
  /** The pattern route callers' model names match (`claude-*`; `*` for every other name). */
  route: string;
  /** The variable the key was read from; undefined for a keyless OpenAI-compatible server. */
  keyVariable: string | undefined;
  /** Where calls go (the provider's official API unless its `*_BASE_URL` is set). */
  baseURL: string;
}

/** The gateway config built from the environment, and the providers it routes to. */
export interface EnvGatewayConfig {
  config: GatewayConfigInput;
  providers: EnvProviderRoute[];
}

/** Neither a `gateway` section nor a provider key: the gateway has nothing to route to. */
export class NoProviderKeysError extends KeelError {
  constructor() {
    super({
      code: 'gateway_no_provider_keys',
      message:
        'The gateway has nothing to route to: the config has no "gateway" section and no provider key is set. ' +
        'Set OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible ' +
        'server), or add a "gateway" section to keel.config.ts (docs/gateway.md).',
      fault: 'caller',
      details: {
        variables: [
          ...PROVIDER_KEY_VARIABLES.openai,
          ...PROVIDER_KEY_VARIABLES.anthropic,
          ...PROVIDER_KEY_VARIABLES.gemini,
          ...PROVIDER_KEY_VARIABLES['openai-compatible'],
        ],
      },
    });
  }
}

/**
 * The routes of the providers whose keys are set in `env`; undefined when none is. Anthropic and
 * Gemini come first so `/v1/models` lists the specific patterns before the catch-all.
 */
export function envGatewayConfig(
  env: Readonly<Record<string, string | undefined>>,
): EnvGatewayConfig | undefined {
  const providers: EnvProviderRoute[] = [];
  const firstSet = (names: readonly string[]) => names.find((name) => readEnv(env, name) !== undefined);

  const anthropicKey = firstSet(PROVIDER_KEY_VARIABLES.anthropic);
  if (anthropicKey !== undefined)
    providers.push({
      provider: 'anthropic',
      route: 'claude-*',
      keyVariable: anthropicKey,
      baseURL: readEnv(env, 'ANTHROPIC_BASE_URL') ?? DEFAULT_ANTHROPIC_BASE_URL,
    });
  const geminiKey = firstSet(PROVIDER_KEY_VARIABLES.gemini);
  if (geminiKey !== undefined)
    providers.push({
      provider: 'gemini',
      route: 'gemini-*',
      keyVariable: geminiKey,
      baseURL: readEnv(env, 'GEMINI_BASE_URL') ?? DEFAULT_GEMINI_BASE_URL,
    });
  const openAIKey = firstSet(PROVIDER_KEY_VARIABLES.openai);
  const openAIBaseURL = firstSet(PROVIDER_KEY_VARIABLES['openai-compatible']);
  if (openAIKey !== undefined || openAIBaseURL !== undefined)
    providers.push({
      provider: openAIKey === undefined ? 'openai-compatible' : 'openai',
      route: '*',
      keyVariable: openAIKey,
      baseURL:
        (openAIBaseURL === undefined ? undefined : readEnv(env, openAIBaseURL)) ?? DEFAULT_OPENAI_BASE_URL,
    });
  if (providers.length === 0) return undefined;

  const deployments: DeploymentConfig[] = providers.map(({ provider, keyVariable, baseURL }) => ({
    name: provider,
    provider,
    model: PASSTHROUGH_MODEL,
    ...(keyVariable === undefined ? {} : { apiKeyEnv: keyVariable }),
    baseURL,
    weight: 1,
  }));
  return {
    config: {
      deployments,
      routes: providers.map(({ provider, route }) => ({ name: route, deployments: [provider] })),
    },
    providers,
  };
}

/** The start-up lines, one per provider: which model names route where, at which base URL. */
export function describeEnvRoutes(providers: readonly EnvProviderRoute[]): string[] {
  const specific = providers.filter((provider) => provider.route !== '*').map((provider) => provider.route);
  return providers.map(({ provider, route, keyVariable, baseURL }) => {
    const names =
      route === '*'
        ? specific.length === 0
          ? 'every model name'
          : `every other model name (not ${specific.join(', ')})`
        : `model names ${route}`;
    const key = keyVariable === undefined ? 'no key' : `key from ${keyVariable}`;
    return `${names} → ${provider} at ${baseURL} (${key})`;
  });
}
