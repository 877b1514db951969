/**
 * The models behind one deployment, built once at gateway creation from its config: provider,
 * model, base URL, headers and the key read from the environment variable the config names.
 *
 * - `openai`: the OpenAI adapter; the key from `apiKeyEnv`, else `OPENAI_API_KEY` (required).
 * - `openai-compatible`: the same adapter against `baseURL` (required); a key only if configured.
 * - On these three, `api: 'responses'` speaks OpenAI's Responses API instead of chat completions
 *   (responses-adapter.ts): reasoning items and hosted tools are carried.
 * - `azure-openai`: the same adapter against Azure's v1 endpoint (`baseURL` =
 *   `https://{resource}.openai.azure.com/openai/v1`, which takes the model in the body and needs no
 *   `api-version`), the key sent as `api-key`. Priced as `openai`, by the model that answered.
 * - any other provider (`anthropic`, `gemini`, registered ones): its `resolveModel` factory,
 *   given the environment plus the key as `{PROVIDER}_API_KEY` and the base URL as
 *   `{PROVIDER}_BASE_URL`, which is how those factories read them. Headers cannot pass through a
 *   factory, so configuring them there is an error rather than silently dropped.
 * - `languageModel` in the config wins over all of this (a ready model, e.g. an AI SDK bridge).
 * - Models Keel did not build here answer through `withTrustedUsageModel`, so their usage is
 *   checked (and estimated when missing) before it settles limits, prices and records.
 *
 * Each deployment that Keel builds gets its own HTTP connection pool (`deployment-fetch.ts`),
 * unless a `fetch` is injected. A missing key fails gateway creation, naming the deployment and the
 * variable, instead of failing the first call at 3 a.m.
 */
import { ConfigError } from '../errors/config-errors.js';
import { isKeelError } from '../errors/keel-error.js';
import type { EmbeddingModel, LanguageModel } from '../model/model.js';
import {
  createOpenAICompatibleModel,
  createOpenAIEmbeddingModel,
  DEFAULT_OPENAI_BASE_URL,
} from '../model/providers/openai/adapter.js';
import { createOpenAIResponsesModel } from '../model/providers/openai/responses-adapter.js';
import { resolveModel } from '../model/resolve-model.js';
import { withTrustedUsageModel } from '../model/trusted-usage.js';
import type { Clock } from '../util/clock.js';
import { createDeploymentFetch } from './deployment-fetch.js';
import type { DeploymentConfig, TimeoutsConfig } from './gateway-config.js';

/** The models of one deployment. */
export interface DeploymentModels {
  languageModel: LanguageModel;
  /** Present for providers Keel can embed with (OpenAI wire format). */
  embeddingModel: EmbeddingModel | undefined;
  /** The provider id to price answers with (`openai` for Azure OpenAI). */
  pricingProvider: string;
  /** Releases the deployment's connection pool. */
  close(): Promise<void>;
}

/** Options of {@link createDeploymentModels}. */
export interface DeploymentModelsOptions {
  deployment: DeploymentConfig;
  timeouts: TimeoutsConfig;
  env: Readonly<Record<string, string | undefined>>;
  /** Used instead of a pooled undici fetch per deployment (tests, custom transports). */
  fetch?: typeof globalThis.fetch;
  clock: Clock;
}

const OPENAI_WIRE = new Set(['openai', 'openai-compatible', 'azure-openai']);
const DEFAULT_KEY_VARIABLES: Readonly<Record<string, string>> = {
  openai: 'OPENAI_API_KEY',
  'azure-openai': 'AZURE_OPENAI_API_KEY',
};

/** Builds a deployment's models; throws ConfigError (`config_invalid`) when it cannot. */
export function createDeploymentModels({
  deployment,
  timeouts,
  env,
  fetch,
  clock,
}: DeploymentModelsOptions): DeploymentModels {
  const { name, provider, model, baseURL, headers = {} } = deployment;
  if (deployment.languageModel !== undefined) {
    return {
      languageModel: withTrustedUsageModel(deployment.languageModel),
      embeddingModel: undefined,
      pricingProvider: provider,
      close: async () => {},
    };
  }
  const keyVariable = deployment.apiKeyEnv ?? DEFAULT_KEY_VARIABLES[provider];
  const apiKey = keyVariable === undefined ? undefined : env[keyVariable]?.trim() || undefined;
  if (keyVariable !== undefined && apiKey === undefined) {
    throw new ConfigError(
      'config_invalid',
      `Gateway deployment "${name}" needs its API key in the environment variable ${keyVariable}, which is not set.`,
      { deployment: name, variable: keyVariable },
    );
  }
  const pool =
    fetch === undefined ? createDeploymentFetch({ connectTimeoutMs: timeouts.connectMs }) : undefined;
  const fetchFunction = pool?.fetch ?? fetch;
  const close = async () => {
    await pool?.close();
  };
  try {
    if (OPENAI_WIRE.has(provider)) {
      return { ...openAIWireModels({ deployment, apiKey, fetch: fetchFunction, clock }), close };
    }
    if (deployment.api !== undefined) {
      throw new ConfigError(
        'config_invalid',
        `Gateway deployment "${name}": api is supported only for openai, openai-compatible and azure-openai deployments.`,
        { deployment: name, provider },
      );
    }
    if (Object.keys(headers).length > 0) {
      throw new ConfigError(
        'config_invalid',
        `Gateway deployment "${name}": headers are supported only for openai, openai-compatible and azure-openai deployments.`,
        { deployment: name, provider },
      );
    }
    const prefix = provider.toUpperCase().replace(/-/g, '_');
    const factoryEnv: Record<string, string | undefined> = { ...env };
    if (apiKey !== undefined) factoryEnv[`${prefix}_API_KEY`] = apiKey;
    if (baseURL !== undefined) factoryEnv[`${prefix}_BASE_URL`] = baseURL;
    const languageModel = resolveModel(`${provider}:${model}`, {
      env: factoryEnv,
      ...(fetchFunction === undefined ? {} : { fetch: fetchFunction }),
    });
    return {
      languageModel: withTrustedUsageModel(languageModel),
      embeddingModel: undefined,
      pricingProvider: languageModel.provider,
      close,
    };
  } catch (error) {
    void close();
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      'config_invalid',
      `Gateway deployment "${name}" cannot be built: ${error instanceof Error ? error.message : String(error)}`,
      { deployment: name, provider, ...(isKeelError(error) ? { reason: error.code } : {}) },
      error,
    );
  }
}

function openAIWireModels({
  deployment,
  apiKey,
  fetch,
  clock,
}: {
  deployment: DeploymentConfig;
  apiKey: string | undefined;
  fetch: typeof globalThis.fetch | undefined;
  clock: Clock;
}): Omit<DeploymentModels, 'close'> {
  const { name, provider, model, headers = {} } = deployment;
  const azure = provider === 'azure-openai';
  if (provider !== 'openai' && deployment.baseURL === undefined) {
    throw new ConfigError('config_invalid', `Gateway deployment "${name}" (${provider}) needs a baseURL.`, {
      deployment: name,
      provider,
    });
  }
  const baseURL = deployment.baseURL ?? DEFAULT_OPENAI_BASE_URL;
  const allHeaders = azure && apiKey !== undefined ? { 'api-key': apiKey, ...headers } : headers;
  const bearer = azure ? undefined : apiKey;
  const connection = {
    model,
    baseURL,
    headers: allHeaders,
    provider,
    clock,
    // No ambient OPENAI_* variables: a deployment is exactly what its config says.
    env: {},
    ...(bearer === undefined ? {} : { apiKey: bearer }),
    ...(fetch === undefined ? {} : { fetch }),
  };
  const languageModel =
    deployment.api === 'responses'
      ? createOpenAIResponsesModel(connection)
      : createOpenAICompatibleModel({
          ...connection,
          ...(deployment.streamUsage === undefined ? {} : { streamUsage: deployment.streamUsage }),
        });
  const embeddingModel = createOpenAIEmbeddingModel(connection);
  return { languageModel, embeddingModel, pricingProvider: azure ? 'openai' : provider };
}
