/**
 * Model references: `provider:model` strings such as `openai:gpt-4o-mini`, resolved to a
 * LanguageModel through a registry of provider factories. `openai`, `openai-compatible`,
 * `openai-responses`, `anthropic`, `gemini` and `builtin` are registered here; further adapters join with
 * `registerModelProvider` without this file importing them.
 */
import { ModelConfigError } from '../errors/model-errors.js';
import { createAnthropicModel } from './providers/anthropic/adapter.js';
import { createBuiltinModel } from './builtin-model.js';
import { createGeminiModel } from './providers/gemini/adapter.js';
import type { LanguageModel } from './model.js';
import { createOpenAICompatibleModel } from './providers/openai/adapter.js';
import { createOpenAIResponsesModel } from './providers/openai/responses-adapter.js';
import { readEnv } from './provider-config.js';

/** What a provider factory receives. */
export interface ModelProviderOptions {
  /** The part after the first `:`, e.g. `gpt-4o-mini` (may itself contain `:`, like `llama3:8b`). */
  modelId: string;
  /** The whole reference, for error messages. */
  reference: string;
  env: Readonly<Record<string, string | undefined>>;
  fetch?: typeof globalThis.fetch;
}

/** Builds a model for one provider prefix. Throws ModelConfigError when configuration is missing. */
export type ModelProviderFactory = (options: ModelProviderOptions) => LanguageModel;

/** Options of {@link resolveModel}. */
export interface ResolveModelOptions {
  /** Where API keys and base URLs are read. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  fetch?: typeof globalThis.fetch;
  /** Factories for this call only; they win over the registered ones (tests, embedders). */
  providers?: Readonly<Record<string, ModelProviderFactory>>;
}

const PREFIX = /^[a-z][a-z0-9-]*$/;

/**
 * The variables each built-in provider reads its key from (for `openai-compatible`, its server's
 * URL), the first set one winning: Gemini takes the official SDKs' order, GOOGLE_API_KEY first.
 */
export const PROVIDER_KEY_VARIABLES = {
  openai: ['OPENAI_API_KEY'],
  'openai-compatible': ['OPENAI_BASE_URL'],
  'openai-responses': ['OPENAI_API_KEY'],
  anthropic: ['ANTHROPIC_API_KEY'],
  gemini: ['GOOGLE_API_KEY', 'GEMINI_API_KEY'],
} as const satisfies Readonly<Record<string, readonly string[]>>;

/** The first of `names` set in `env`. */
function readFirst(env: ModelProviderOptions['env'], names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = readEnv(env, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The official OpenAI API's key, or a ModelConfigError naming the variable. */
function openAIKey(env: ModelProviderOptions['env'], reference: string): string {
  const apiKey = readFirst(env, PROVIDER_KEY_VARIABLES.openai);
  if (apiKey === undefined) {
    throw new ModelConfigError(`Model "${reference}" needs an OpenAI API key: set OPENAI_API_KEY.`, {
      reference,
      variable: 'OPENAI_API_KEY',
    });
  }
  return apiKey;
}

const openAIFactory: ModelProviderFactory = ({ modelId, reference, env, fetch }) =>
  createOpenAICompatibleModel({
    model: modelId,
    apiKey: openAIKey(env, reference),
    env,
    fetch,
    provider: 'openai',
  });

const openAICompatibleFactory: ModelProviderFactory = ({ modelId, reference, env, fetch }) => {
  const baseURL = readFirst(env, PROVIDER_KEY_VARIABLES['openai-compatible']);
  if (baseURL === undefined) {
    throw new ModelConfigError(
      `Model "${reference}" needs the server's base URL: set OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1).`,
      { reference, variable: 'OPENAI_BASE_URL' },
    );
  }
  // Priced as unknown on purpose: a compatible server's model is not OpenAI's price list.
  return createOpenAICompatibleModel({ model: modelId, baseURL, env, fetch, provider: 'openai-compatible' });
};

/** OpenAI through its Responses API: reported and priced as `openai`. */
const openAIResponsesFactory: ModelProviderFactory = ({ modelId, reference, env, fetch }) =>
  createOpenAIResponsesModel({
    model: modelId,
    apiKey: openAIKey(env, reference),
    env,
    ...(fetch === undefined ? {} : { fetch }),
  });

const anthropicFactory: ModelProviderFactory = ({ modelId, reference, env, fetch }) => {
  const apiKey = readFirst(env, PROVIDER_KEY_VARIABLES.anthropic);
  if (apiKey === undefined) {
    throw new ModelConfigError(`Model "${reference}" needs an Anthropic API key: set ANTHROPIC_API_KEY.`, {
      reference,
      variable: 'ANTHROPIC_API_KEY',
    });
  }
  return createAnthropicModel({ model: modelId, apiKey, env, fetch });
};

const geminiFactory: ModelProviderFactory = ({ modelId, reference, env, fetch }) => {
  const apiKey = readFirst(env, PROVIDER_KEY_VARIABLES.gemini);
  if (apiKey === undefined) {
    throw new ModelConfigError(
      `Model "${reference}" needs a Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY).`,
      { reference, variable: 'GEMINI_API_KEY' },
    );
  }
  // Reported as provider `google`, the id the price table uses for Gemini models.
  return createGeminiModel({ model: modelId, apiKey, env, fetch });
};

const builtinFactory: ModelProviderFactory = ({ modelId }) => createBuiltinModel(modelId);

// On globalThis because the CLI (from dist/) and a config file (from src/) may load two copies of
// this module; a provider registered by one must resolve in the other.
const REGISTRY_KEY = Symbol.for('keel.model-providers');
const registry = ((globalThis as unknown as Record<symbol, Map<string, ModelProviderFactory> | undefined>)[
  REGISTRY_KEY
] ??= new Map<string, ModelProviderFactory>([
  ['openai', openAIFactory],
  ['openai-compatible', openAICompatibleFactory],
  ['openai-responses', openAIResponsesFactory],
  ['anthropic', anthropicFactory],
  ['gemini', geminiFactory],
  ['builtin', builtinFactory],
]));

/**
 * Makes `prefix:model` references resolvable, e.g. `registerModelProvider('builtin', ...)`.
 * Replaces an earlier factory of the same prefix; the returned function undoes the registration
 * (restoring the earlier factory), which keeps tests from leaking registrations.
 */
export function registerModelProvider(prefix: string, factory: ModelProviderFactory): () => void {
  if (!PREFIX.test(prefix)) {
    throw new ModelConfigError(
      `Model provider prefix "${prefix}" is invalid: use lowercase letters, digits and "-".`,
      { prefix },
    );
  }
  const previous = registry.get(prefix);
  registry.set(prefix, factory);
  return () => {
    if (registry.get(prefix) !== factory) return;
    if (previous === undefined) registry.delete(prefix);
    else registry.set(prefix, previous);
  };
}

/** The prefixes that resolve right now, sorted. */
export function registeredModelProviders(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Resolves a model reference. A LanguageModel passes through unchanged. A string is
 * `provider:model`: `openai:<model>` (needs OPENAI_API_KEY; `openai-responses:<model>` the same
 * through OpenAI's Responses API), `openai-compatible:<model>` (needs
 * OPENAI_BASE_URL), `anthropic:<model>` (needs ANTHROPIC_API_KEY; ANTHROPIC_BASE_URL optional),
 * `gemini:<model>` (needs GEMINI_API_KEY or GOOGLE_API_KEY; GEMINI_BASE_URL optional; reported as
 * provider `google`), `builtin:<name>` (the offline models of builtin-model.ts), or any registered prefix. Anything else throws
 * ModelConfigError (code `model_config_invalid`) naming the known prefixes.
 */
export function resolveModel(
  reference: string | LanguageModel,
  options: ResolveModelOptions = {},
): LanguageModel {
  if (typeof reference !== 'string') return reference;
  const { env = process.env, fetch, providers = {} } = options;
  const colon = reference.indexOf(':');
  const prefix = colon === -1 ? '' : reference.slice(0, colon).trim();
  const modelId = colon === -1 ? '' : reference.slice(colon + 1).trim();
  const known = [...new Set([...registry.keys(), ...Object.keys(providers)])].sort();
  if (prefix === '' || modelId === '') {
    throw new ModelConfigError(
      `Model reference "${reference}" is invalid: expected "provider:model", e.g. "openai:gpt-4o-mini". Known providers: ${known.join(', ')}.`,
      { reference, known },
    );
  }
  const factory = (Object.hasOwn(providers, prefix) ? providers[prefix] : undefined) ?? registry.get(prefix);
  if (factory === undefined) {
    throw new ModelConfigError(
      `Model reference "${reference}" names an unknown provider "${prefix}". Known providers: ${known.join(', ')}.`,
      { reference, prefix, known },
    );
  }
  return factory({ modelId, reference, env, ...(fetch === undefined ? {} : { fetch }) });
}
