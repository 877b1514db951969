import { z } from 'zod';
import type { LanguageModel } from '../model/model.js';

/**
 * The gateway's configuration, validated with zod at load (a config file's `gateway` key, or
 * `createGateway({ config })`). Provider API keys are read from the environment by name
 * (`apiKeyEnv`) so they never sit in a config file; they never leave the server.
 */

const name = z
  .string()
  .regex(/^[a-zA-Z0-9_.:/-]{1,128}$/, 'letters, digits and _ . : / - only, 1-128 characters');

/**
 * A route's name: a model name callers send, or a pattern ending in `*` (`claude-*`, or `*` alone)
 * that answers every name starting with what precedes the star (route-patterns.ts).
 */
const routeName = z
  .string()
  .regex(
    /^(?=.{1,128}$)[a-zA-Z0-9_.:/-]*\*?$/,
    'letters, digits and _ . : / - only, 1-128 characters, optionally ending in * (a pattern)',
  );

/** Per-attempt timeouts. First byte: until the first response byte (or stream event). */
export const timeoutsSchema = z.object({
  connectMs: z.number().int().positive().default(5_000),
  firstByteMs: z.number().int().positive().default(60_000),
  /** Longest silence between two stream chunks. */
  idleMs: z.number().int().positive().default(30_000),
  totalMs: z.number().int().positive().default(300_000),
});

/** A named upstream: one provider, one model, one key. */
export const deploymentSchema = z.object({
  name,
  /** `openai`, `openai-compatible`, `azure-openai`, `anthropic`, `gemini`, or a registered one. */
  provider: z.string().min(1),
  /**
   * The upstream's model id; `*` runs the model the caller named (a passthrough deployment, for
   * pattern routes only).
   */
  model: z.string().min(1),
  /** Name of the environment variable holding the provider key (never the key itself). */
  apiKeyEnv: z.string().optional(),
  baseURL: z.url().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /**
   * OpenAI-wire deployments: the API spoken upstream. `chat` (default): chat completions, which
   * every compatible server speaks. `responses`: OpenAI's Responses API, which carries reasoning
   * items between turns and runs hosted tools (`web_search`...) for Responses callers such as Codex.
   */
  api: z.enum(['chat', 'responses']).optional(),
  /**
   * OpenAI-wire deployments: ask for the usage chunk on streams (`stream_options.include_usage`).
   * Default true; turn it off for a server that rejects the field (usage is then estimated).
   */
  streamUsage: z.boolean().optional(),
  /** Share of traffic among the deployments of one route (default 1). */
  weight: z.number().positive().default(1),
  /** Requests and tokens per minute for this deployment, shared by every gateway process. */
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
  timeouts: timeoutsSchema.partial().optional(),
});

/**
 * Who may share a route's cached answers. `tenant` (the default): only requests of the same tenant
 * (the caller key's, or the agent run's), so one tenant can never read or confirm another's
 * completion. `global`: every caller of the route, for public, non-personal prompts only.
 */
export const cacheScopes = ['tenant', 'global'] as const;

/** A route's cache policy, normalized from `cache: true | false | { ... }`. */
const routeCacheObjectSchema = z
  .strictObject({
    /** Cache exact repeats of this route's requests (default true in the object form). */
    enabled: z.boolean().default(true),
    scope: z.enum(cacheScopes).default('tenant'),
    /**
     * A request may turn caching on for itself (`x-keel-cache: true`). Only meaningful on a route
     * whose cache is off; without it the header cannot turn caching on. Turning it off for a
     * request (`x-keel-cache: false`) is always allowed.
     */
    callerOptIn: z.boolean().default(false),
  })
  .refine((cache) => !(cache.enabled && cache.callerOptIn), {
    message:
      'callerOptIn applies to a route whose cache is off: set enabled: false as well (callers then opt in with x-keel-cache: true)',
    path: ['callerOptIn'],
  });

export const routeCacheSchema = z
  .union([z.boolean(), routeCacheObjectSchema], {
    error:
      'expected true, false or { enabled?: boolean, scope?: "tenant" | "global", callerOptIn?: boolean }',
  })
  .default(false)
  .transform((cache) =>
    typeof cache === 'boolean' ? routeCacheObjectSchema.parse({ enabled: cache }) : cache,
  );

/**
 * A name callers use (`gpt-4o-mini`, a tier such as `fast`, or a pattern such as `claude-*`):
 * where it goes and what next.
 */
export const routeSchema = z.object({
  name: routeName,
  /** Deployments balanced by weight; one whose breaker is open is skipped. */
  deployments: z.array(name).min(1),
  /** Other routes tried in order when every deployment of this one failed. */
  fallbacks: z.array(routeName).default([]),
  /**
   * Cache exact repeats of requests to this route (opt-in): `true` (per tenant), or
   * `{ enabled, scope: 'tenant' | 'global', callerOptIn }`.
   */
  cache: routeCacheSchema,
});

export const gatewayConfigSchema = z.object({
  deployments: z.array(deploymentSchema).min(1),
  routes: z.array(routeSchema).min(1),
  retry: z
    .object({
      /** Attempts on one deployment before moving on (retryable errors only). */
      attemptsPerDeployment: z.number().int().min(1).max(10).default(2),
      baseMs: z.number().int().positive().default(200),
      capMs: z.number().int().positive().default(5_000),
      /** Retry-After beyond this moves to the next deployment instead of waiting. */
      maxRetryAfterMs: z.number().int().nonnegative().default(10_000),
    })
    .prefault({}),
  /** One time budget for a whole call across retries and the fallback chain. */
  budgetMs: z.number().int().positive().default(120_000),
  breaker: z
    .object({
      /** Consecutive failures that open the breaker. */
      failureThreshold: z.number().int().positive().default(5),
      /** How long it stays open before one probe is let through (half-open). */
      cooldownMs: z.number().int().positive().default(30_000),
    })
    .prefault({}),
  cache: z
    .object({
      ttlMs: z.number().int().positive().default(3_600_000),
      maxEntries: z.number().int().positive().default(1_000),
      /** Also keep entries in the shared store, so every gateway process sees them. */
      shared: z.boolean().default(true),
    })
    .prefault({}),
  /**
   * Redis for the hot paths (rate limits, shared cache), used when `REDIS_URL` is set; Postgres
   * stays the store of record (calls, budgets). See docs/gateway.md (Redis).
   */
  redis: z
    .object({
      /** When Redis fails: `closed` refuses the call (503), `open` admits it without a limit. */
      onError: z.enum(['open', 'closed']).default('closed'),
      /** Longest wait for one Redis command; then `onError` applies. */
      commandTimeoutMs: z.number().int().positive().default(500),
      connectTimeoutMs: z.number().int().positive().default(2_000),
      /** Prefix of every key Keel writes. */
      keyPrefix: z.string().max(64).default('keel:'),
    })
    .prefault({}),
  /** Largest request body accepted over HTTP. */
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1024 * 1024),
});

export type TimeoutsConfig = z.output<typeof timeoutsSchema>;
/** One upstream deployment of a route: provider, model, key, weight, limits. */
export type DeploymentConfig = z.output<typeof deploymentSchema> & {
  /** A ready model instead of `provider` + `model` (e.g. an AI SDK model through the bridge). */
  languageModel?: LanguageModel;
};
/** A named route: its deployments, fallbacks and limits. */
export type RouteConfig = z.output<typeof routeSchema>;
/** A gateway's config after validation (routes and deployments). */
export type GatewayConfig = Omit<z.output<typeof gatewayConfigSchema>, 'deployments'> & {
  deployments: DeploymentConfig[];
};
/** What a user writes (defaults optional). */
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
