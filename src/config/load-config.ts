import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';
import {
  parseSpendBreakers,
  parseToolPolicy,
  parseEnvironments,
  type SpendBreakerRule,
  type ToolPolicyConfig,
} from '../controls/controls-config.js';
import { parseDeclaredBudgets, type DeclaredBudget } from '../budgets/declared-budgets.js';
import type { Scorer } from '../evals/scorer.js';
import { ConfigError } from '../errors/config-errors.js';
import { isKeelError } from '../errors/keel-error.js';
import type { GatewayConfigInput } from '../gateway/gateway-config.js';
import { defineAgent, type Agent } from '../runtime/agent.js';
import { assertRedactionRules, type TenantRedaction } from '../runtime/redaction.js';

const DEFAULT_NAMES = ['keel.config.ts', 'keel.config.mts', 'keel.config.js', 'keel.config.mjs'];

/** A loaded config: its agents by name, and where it came from. */
export interface LoadedConfig {
  path: string;
  agents: Map<string, Agent>;
  /** The config's `gateway` section as written (validated when the gateway is created). */
  gateway?: GatewayConfigInput;
  /** The config's `toolPolicy`, validated. */
  toolPolicy?: ToolPolicyConfig;
  /** The config's `spendBreakers` (or `spend_breakers`), validated. */
  spendBreakers?: SpendBreakerRule[];
  /** The config's `budgets`, checked (`config_invalid` naming the field); absent when none. */
  budgets?: DeclaredBudget[];
  /** Redaction rules per tenant (`redact: { tenants: { acme: ['pii'] } }`), validated. */
  redactByTenant?: TenantRedaction;
  /** The `evals` section: custom scorers by name, the default judge model. */
  evals?: { scorers: Map<string, Scorer>; judgeModel?: string };
}

/**
 * Finds the config file: `path` (from `--config`), else `KEEL_CONFIG`, else the first
 * `keel.config.{ts,mts,js,mjs}` in `cwd`. Throws `config_not_found` naming what was tried.
 */
export function findConfigPath({
  path,
  cwd = process.cwd(),
  env = process.env,
}: { path?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const explicit = path ?? env.KEEL_CONFIG;
  if (explicit) {
    const absolute = resolve(cwd, explicit);
    if (!existsSync(absolute))
      throw new ConfigError('config_not_found', `Config file not found: ${absolute}`, { path: absolute });
    return absolute;
  }
  for (const name of DEFAULT_NAMES) {
    const candidate = resolve(cwd, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new ConfigError(
    'config_not_found',
    `No keel.config.ts (or .mts, .js, .mjs) in ${cwd}. Pass --config <file> or set KEEL_CONFIG.`,
    { cwd },
  );
}

/**
 * Loads a config file (TypeScript or JavaScript) and validates its agents. Inside the file,
 * `import ... from 'keel'` resolves to this very copy of Keel, so a config works inside or
 * beside the project without its own install.
 */
export async function loadConfig(
  options: { path?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<LoadedConfig> {
  const path = findConfigPath(options);
  const jiti = createJiti(import.meta.url, {
    alias: {
      'keel/gateway': ownModule('gateway/index'),
      'keel/server': ownModule('server/index'),
      'keel/testing': ownModule('testing/index'),
      keel: ownModule('index'),
    },
    fsCache: false,
    moduleCache: false,
    interopDefault: true,
  });
  let loaded: unknown;
  try {
    loaded = await jiti.import(path);
  } catch (error) {
    if (isKeelError(error)) throw error; // e.g. invalid_tool thrown by defineTool at load time
    throw new ConfigError(
      'config_load_failed',
      `Could not load ${path}: ${(error as Error).message ?? String(error)}`,
      { path },
      error,
    );
  }
  const gateway = gatewayOf(loaded);
  const toolPolicy = toolPolicyOf(sectionOf(loaded, 'environments'), sectionOf(loaded, 'toolPolicy'));
  const spendBreakers = sectionOf(loaded, 'spendBreakers') ?? sectionOf(loaded, 'spend_breakers');
  const redactByTenant = redactionOf(loaded);
  const { module, exported } = exportsOf(loaded);
  const budgets = parseDeclaredBudgets(exported?.budgets ?? module?.budgets, path);
  const evals = evalsOf(sectionOf(loaded, 'evals'));
  return {
    path,
    agents: agentsOf(loaded, path, gateway !== undefined),
    ...(gateway === undefined ? {} : { gateway }),
    ...(toolPolicy === undefined ? {} : { toolPolicy }),
    ...(spendBreakers === undefined ? {} : { spendBreakers: parseSpendBreakers(spendBreakers) }),
    ...(redactByTenant === undefined ? {} : { redactByTenant }),
    ...(budgets.length === 0 ? {} : { budgets }),
    ...(evals === undefined ? {} : { evals }),
  };
}

/** The `evals` section: `{ scorers?: Scorer[], judgeModel?: string }`; `config_invalid` names a bad field. */
function evalsOf(section: unknown): LoadedConfig['evals'] {
  if (section === undefined) return undefined;
  const invalid = (field: string, problem: string) =>
    new ConfigError('config_invalid', `evals.${field} ${problem}`, { field: `evals.${field}` });
  if (typeof section !== 'object' || section === null || Array.isArray(section))
    throw invalid('', 'must be { scorers?: [defineScorer(...)], judgeModel?: "provider:model" }.');
  const { scorers = [], judgeModel } = section as { scorers?: unknown; judgeModel?: unknown };
  if (!Array.isArray(scorers)) throw invalid('scorers', 'must be a list of defineScorer(...) results.');
  const byName = new Map<string, Scorer>();
  scorers.forEach((scorer: unknown, index) => {
    const candidate = scorer as Partial<Scorer> | null;
    if (typeof candidate?.name !== 'string' || typeof candidate.score !== 'function')
      throw invalid(`scorers[${index}]`, 'is not a scorer: make it with defineScorer({ name, score }).');
    if (byName.has(candidate.name))
      throw invalid(`scorers[${index}]`, `repeats the name "${candidate.name}".`);
    byName.set(candidate.name, candidate as Scorer);
  });
  if (judgeModel !== undefined && (typeof judgeModel !== 'string' || judgeModel.trim() === ''))
    throw invalid('judgeModel', 'must be a model reference such as "openai:gpt-4o-mini".');
  return { scorers: byName, ...(judgeModel === undefined ? {} : { judgeModel: judgeModel as string }) };
}

/** A top-level section of the config (default export or named), undefined when absent. */
function sectionOf(loaded: unknown, name: string): unknown {
  const { module, exported } = exportsOf(loaded);
  const section = exported?.[name] ?? module?.[name];
  return section === null ? undefined : section;
}

/** The `redact` section: `{ tenants: { <tenant>: rules } }`; `config_invalid` names a bad field. */
function redactionOf(loaded: unknown): TenantRedaction | undefined {
  const { module, exported } = exportsOf(loaded);
  const section = exported?.redact ?? module?.redact;
  if (section === undefined || section === null) return undefined;
  const tenants = (section as { tenants?: unknown }).tenants;
  if (
    typeof section !== 'object' ||
    typeof tenants !== 'object' ||
    tenants === null ||
    Array.isArray(tenants)
  ) {
    throw new ConfigError('config_invalid', 'redact must be { tenants: { <tenant id>: ["pii", ...] } }.', {
      field: 'redact.tenants',
    });
  }
  for (const [tenant, rules] of Object.entries(tenants)) {
    try {
      assertRedactionRules(`tenant ${tenant}`, rules);
    } catch (error) {
      throw new ConfigError('config_invalid', `redact.tenants.${tenant}: ${(error as Error).message}`, {
        field: `redact.tenants.${tenant}`,
      });
    }
  }
  return tenants as TenantRedaction;
}

function exportsOf(loaded: unknown): {
  module?: Record<string, unknown>;
  exported?: Record<string, unknown>;
} {
  const module = loaded as Record<string, unknown> | null | undefined;
  const exported = (module && typeof module === 'object' && 'default' in module ? module.default : module) as
    Record<string, unknown> | undefined;
  return { module: module ?? undefined, exported };
}

function gatewayOf(loaded: unknown): GatewayConfigInput | undefined {
  const { module, exported } = exportsOf(loaded);
  const gateway = exported?.gateway ?? module?.gateway;
  return gateway === undefined || gateway === null ? undefined : (gateway as GatewayConfigInput);
}

function agentsOf(loaded: unknown, path: string, optional = false): Map<string, Agent> {
  const { module, exported } = exportsOf(loaded);
  const list = exported?.agents ?? module?.agents;
  // A file that only configures the gateway needs no agents.
  if (list === undefined && optional) return new Map();
  if (!Array.isArray(list)) {
    throw new ConfigError(
      'config_invalid',
      `${path} must export { agents: [...] } (default export or named "agents").`,
      { path },
    );
  }
  const agents = new Map<string, Agent>();
  for (const candidate of list as unknown[]) {
    // Re-validates: a config may build agents by hand or with another copy of Keel.
    const agent = defineAgent(candidate as Agent);
    if (agents.has(agent.name))
      throw new ConfigError('config_invalid', `${path} defines agent "${agent.name}" twice.`, { path });
    agents.set(agent.name, agent);
  }
  return agents;
}

/** The path of one of Keel's own modules: built `.js` next to this file, or `.ts` in the source tree. */
function ownModule(name: string): string {
  const base = fileURLToPath(new URL(`../${name}`, import.meta.url));
  return existsSync(`${base}.js`) ? `${base}.js` : `${base}.ts`;
}

/** The tool policy from `environments.<env>.tools` or its older spelling `toolPolicy` (not both). */
function toolPolicyOf(environments: unknown, toolPolicy: unknown): ToolPolicyConfig | undefined {
  if (environments !== undefined && toolPolicy !== undefined)
    throw new ConfigError(
      'config_invalid',
      'Invalid config: environments: give the tool policy once, in environments.<env>.tools (toolPolicy is its older spelling).',
      { field: 'environments' },
    );
  if (environments !== undefined) return parseEnvironments(environments);
  return toolPolicy === undefined ? undefined : parseToolPolicy(toolPolicy);
}
