import { z } from 'zod';
import { ConfigError } from '../errors/config-errors.js';

/**
 * The config file's governance switches that are not runtime controls: which tools an
 * environment allows (`toolPolicy`) and the spend breakers (`spendBreakers`).
 *
 * ```ts
 * toolPolicy: { staging: { deny: ['send_email'] }, production: { allow: ['weather', 'places'] } },
 * spendBreakers: [{ scope: 'agent', window: '1h', maxUsd: 5 }],
 * ```
 */

/** One environment's tool lists: `deny` always wins; with `allow`, only those tools. */
export interface ToolPolicyRules {
  allow?: string[];
  deny?: string[];
}

/** Tool lists by environment name (`KEEL_ENV`); an environment not listed allows every tool. */
export type ToolPolicyConfig = Record<string, ToolPolicyRules>;

/** A spend breaker as written in the config (`max_usd` is accepted for `maxUsd`). */
export interface SpendBreakerInput {
  scope: 'agent' | 'tenant';
  /** `30s`, `15m`, `1h`, `1d`: the sliding window (whole minutes, 1 minute to 31 days). */
  window: string;
  maxUsd?: number;
  max_usd?: number;
  /** Only this agent (scope `agent`) or tenant (scope `tenant`); default every one, each on its own. */
  target?: string;
}

/** A validated spend breaker. */
export interface SpendBreakerRule {
  scope: 'agent' | 'tenant';
  window: string;
  windowMinutes: number;
  maxUsd: number;
  target?: string;
}

/** The environment a process runs in: `KEEL_ENV`, default `development`. */
export function environmentOf(env: Readonly<Record<string, string | undefined>>): string {
  return env.KEEL_ENV?.trim() || 'development';
}

const toolName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a tool name (1-64 letters, digits, _ or -)');
const toolRules = z.strictObject({ allow: z.array(toolName).optional(), deny: z.array(toolName).optional() });
const toolPolicySchema = z.record(
  z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'an environment name'),
  toolRules,
);

const WINDOW = /^(\d{1,6})(s|m|h|d)$/;
const MINUTES = { s: 1 / 60, m: 1, h: 60, d: 1440 } as const;
const MAX_WINDOW_MINUTES = 31 * 1440;

const breakerSchema = z
  .strictObject({
    scope: z.enum(['agent', 'tenant']),
    window: z.string().regex(WINDOW, 'a duration such as 30m, 1h or 1d'),
    maxUsd: z.number().positive().finite().optional(),
    max_usd: z.number().positive().finite().optional(),
    target: z.string().min(1).max(200).optional(),
  })
  .refine((breaker) => (breaker.maxUsd === undefined) !== (breaker.max_usd === undefined), {
    message: 'needs maxUsd (a positive number of dollars)',
    path: ['maxUsd'],
  })
  .transform((breaker, context): SpendBreakerRule => {
    const [, amount, unit] = WINDOW.exec(breaker.window) as RegExpExecArray;
    const minutes = Number(amount) * MINUTES[unit as keyof typeof MINUTES];
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_WINDOW_MINUTES) {
      context.addIssue({ code: 'custom', message: 'must be whole minutes, 1m to 31d', path: ['window'] });
      return z.NEVER;
    }
    return {
      scope: breaker.scope,
      window: breaker.window,
      windowMinutes: minutes,
      maxUsd: (breaker.maxUsd ?? breaker.max_usd) as number,
      ...(breaker.target === undefined ? {} : { target: breaker.target }),
    };
  });

/** Validates `toolPolicy`; throws `config_invalid` naming the field. */
export function parseToolPolicy(input: unknown): ToolPolicyConfig {
  return parseOrThrow(toolPolicySchema, input, 'toolPolicy');
}

const environmentsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'an environment name'),
  z.strictObject({ tools: toolRules.optional() }),
);

/**
 * Validates `environments` (`{ staging: { tools: { deny: ['send_email'] } } }`, the issue's
 * spelling of the tool policy) and returns it as a tool policy; `config_invalid` names the field.
 */
export function parseEnvironments(input: unknown): ToolPolicyConfig {
  const environments = parseOrThrow(environmentsSchema, input, 'environments');
  return Object.fromEntries(
    Object.entries(environments).map(([environment, { tools }]) => [environment, tools ?? {}]),
  );
}

/** Validates `spendBreakers`; throws `config_invalid` naming the field. */
export function parseSpendBreakers(input: unknown): SpendBreakerRule[] {
  return parseOrThrow(z.array(breakerSchema), input, 'spendBreakers');
}

function parseOrThrow<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  root: string,
): z.output<Schema> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = [root, ...(issue?.path ?? [])]
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : index === 0 ? String(part) : `.${String(part)}`,
    )
    .join('');
  throw new ConfigError('config_invalid', `Invalid config: ${field}: ${issue?.message ?? 'invalid'}.`, {
    field,
  });
}
