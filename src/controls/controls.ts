import { appendAudit, type AuditAction } from '../journal/audit-log.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient, SqlExecutor } from '../journal/sql-client.js';
import { toDate } from '../journal/sql-rows.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { ConfigError } from '../errors/config-errors.js';
import { InvalidControlError } from './control-errors.js';

/**
 * The switches an operator (or a spend breaker) can flip at runtime. `tool_disabled` targets a
 * tool (for every agent, or for one: `agent`), `agent_disabled` and `agent_paused` an agent,
 * `deployment_disabled` a gateway deployment, `tenant_paused` a tenant.
 */
export const CONTROL_KINDS = [
  'tool_disabled',
  'agent_disabled',
  'deployment_disabled',
  'agent_paused',
  'tenant_paused',
] as const;
/** One of `CONTROL_KINDS`: what a runtime control disables or pauses. */
export type ControlKind = (typeof CONTROL_KINDS)[number];

/** The tenant of a control that applies to every tenant. */
export const ALL_TENANTS = '*';

/** A switch that is on. */
export interface Control {
  /** The tenant it applies to, or `*` (every tenant). */
  tenantId: string;
  kind: ControlKind;
  /** The tool, agent, deployment or tenant it switches. */
  target: string;
  /** `tool_disabled` only: the one agent the tool is disabled for (null: every agent). */
  agent: string | null;
  reason: string;
  /** `key:<id>`, `cli:<user>`, `system:breaker`, `env:KEEL_DISABLED_TOOLS`. */
  setBy: string;
  setAt: Date;
  /** `env`: from this process's start-up environment, not in the database (cannot be cleared). */
  source: 'database' | 'env';
}

/** Which control: what identifies a row. */
export interface ControlKey {
  tenantId: string;
  kind: ControlKind;
  target: string;
  agent?: string | null;
}

/** Options of {@link Controls.set}. */
export interface SetControl extends ControlKey {
  reason?: string;
  /** Who sets it (the audit row's actor and the control's `setBy`). */
  actor: string;
  /** Keep an existing control as it is (no write, no audit): a breaker tripping again. */
  ifAbsent?: boolean;
  /** The audit action (default `control.set`, or `agent.pause` for `agent_paused`). */
  action?: AuditAction;
  /** Kept on the audit row (a breaker's spend, a request id). */
  details?: Record<string, unknown>;
}

/** Options of {@link Controls.clear}. */
export interface ClearControl extends ControlKey {
  actor: string;
  details?: Record<string, unknown>;
}

/** What an agent's run meets: the control that stops it, if any. */
export interface AgentHold {
  /** `agent_disabled`, or `agent_paused` / `tenant_paused`. */
  control: Control;
  /** `agent_disabled` or `agent_paused` (a tenant pause pauses its agents). */
  code: 'agent_disabled' | 'agent_paused';
}

/**
 * Runtime controls over the shared database, with a cached read for the hot path: every check
 * (`toolDisabled`, `agentHold`, `deploymentDisabled`) is a lookup in memory. The cache is reloaded
 * when another process NOTIFYs a change and on a short poll (a notification sent while a
 * connection is down is lost), so a change reaches every process within `pollMs` at worst.
 * Changes are written with their audit row in one transaction.
 */
export interface Controls {
  /** Loads the controls, listens for changes and starts the poll. Idempotent. */
  start(): Promise<void>;
  /** Reloads the cache now (resolves after a read that started after the call). */
  refresh(): Promise<void>;
  /** The controls in the cache (env ones included), for `tenantId` (its own and `*`) or all. */
  list(filter?: { tenantId?: string }): Control[];
  /** Turns a control on (or updates its reason); audited. Returns it, and whether it was written. */
  set(input: SetControl): Promise<{ control: Control; changed: boolean }>;
  /** Turns a control off; audited. Undefined when it was not on. */
  clear(input: ClearControl): Promise<Control | undefined>;
  /** The control disabling `tool` for `agent` in `tenantId`, if any. */
  toolDisabled(query: { tool: string; agent: string; tenantId: string }): Control | undefined;
  /** What stops `agent`'s runs in `tenantId`: disabled first, then paused (agent or tenant). */
  agentHold(query: { agent: string; tenantId: string }): AgentHold | undefined;
  /** The control disabling gateway deployment `name`, if any. */
  deploymentDisabled(name: string): Control | undefined;
  /** The pause of tenant `tenantId` (by hand or by a spend breaker), if any. */
  tenantPaused(tenantId: string): Control | undefined;
  /** Stops listening and polling. */
  close(): Promise<void>;
}

/** Options of {@link createControls}. */
export interface ControlsOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  /** How often the cache is reloaded besides notifications (default 500 ms). */
  pollMs?: number;
  /**
   * The process's start-up environment: `KEEL_DISABLED_TOOLS=weather,places` disables those
   * tools for every agent and tenant, in this process (the seed's `DISABLE_WEATHER_TOOL` lever).
   */
  env?: Readonly<Record<string, string | undefined>>;
  logger?: Logger;
  now?: () => Date;
}

interface ControlRow {
  tenant_id: string;
  kind: ControlKind;
  target: string;
  agent: string;
  reason: string;
  set_by: string;
  set_at: Date | string;
}

const MAX_CHANNEL_LENGTH = 63;
const TARGET = /^[A-Za-z0-9_.:@/-]{1,200}$/;
const MAX_REASON = 500;

/** The NOTIFY channel of control changes in `schema`. */
export function controlsChannel(schema: string = DEFAULT_SCHEMA): string {
  return `${assertSchemaName(schema)}_controls`.slice(0, MAX_CHANNEL_LENGTH);
}

/** The tools `KEEL_DISABLED_TOOLS` names (comma-separated, blanks ignored). */
export function disabledToolsFromEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return (env.KEEL_DISABLED_TOOLS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** Creates the controls service; call `start()` before relying on its cached reads. */
export function createControls({
  client,
  schema = DEFAULT_SCHEMA,
  pollMs = 500,
  env = process.env,
  logger = silentLogger,
  now = () => new Date(),
}: ControlsOptions): Controls {
  const table = `${assertSchemaName(schema)}.controls`;
  const channel = controlsChannel(schema);
  const envControls: Control[] = disabledToolsFromEnv(env).map((tool) => {
    if (!TARGET.test(tool))
      throw new ConfigError(
        'config_invalid',
        `KEEL_DISABLED_TOOLS: ${JSON.stringify(tool)} is not a tool name.`,
        {
          field: 'KEEL_DISABLED_TOOLS',
        },
      );
    return {
      tenantId: ALL_TENANTS,
      kind: 'tool_disabled',
      target: tool,
      agent: null,
      reason: 'KEEL_DISABLED_TOOLS',
      setBy: 'env:KEEL_DISABLED_TOOLS',
      setAt: now(),
      source: 'env',
    };
  });
  let snapshot = indexControls(envControls);
  let started: Promise<void> | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let inFlight: Promise<void> | undefined;
  let queued: Promise<void> | undefined;

  const load = async () => {
    const { rows } = await client.query<ControlRow>(`SELECT * FROM ${table}`);
    snapshot = indexControls([...envControls, ...rows.map(toControl)]);
  };

  const refresh = (): Promise<void> => {
    if (inFlight === undefined) {
      inFlight = load().finally(() => (inFlight = undefined));
      return inFlight;
    }
    // A read already under way may predate the change the caller wants to see: read again after.
    queued ??= inFlight
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return refresh();
      });
    return queued;
  };

  /** After a committed change: a failed re-read must not turn it into an error (the poll catches up). */
  const refreshQuietly = () =>
    refresh().catch((error: unknown) => logger.warn('controls refresh failed', { error: String(error) }));

  const poll = () => {
    timer = setTimeout(() => {
      refresh()
        .catch((error: unknown) =>
          // The last known state stays in force; the next poll tries again.
          logger.warn('controls refresh failed', { error: String(error) }),
        )
        .finally(() => {
          if (!closed) poll();
        });
    }, pollMs);
    timer.unref();
  };

  const notifyChange = (tx: SqlExecutor) => tx.query(`SELECT pg_notify($1, '')`, [channel]);

  return {
    start() {
      started ??= (async () => {
        if (envControls.length > 0)
          logger.info('tools disabled by KEEL_DISABLED_TOOLS', {
            tools: envControls.map((control) => control.target),
          });
        await load();
        unlisten = await client.listen(channel, () => {
          refresh().catch((error: unknown) =>
            logger.warn('controls refresh failed', { error: String(error) }),
          );
        });
        if (!closed) poll();
      })();
      return started;
    },

    refresh,

    list({ tenantId } = {}) {
      return snapshot.all.filter(
        (control) =>
          tenantId === undefined || control.tenantId === tenantId || control.tenantId === ALL_TENANTS,
      );
    },

    async set(input) {
      const key = checkKey(input);
      const reason = checkReason(input.reason);
      const action = input.action ?? (key.kind === 'agent_paused' ? 'agent.pause' : 'control.set');
      const values = [key.tenantId, key.kind, key.target, key.agent ?? '', reason, input.actor, now()];
      const result = await client.transaction(async (tx) => {
        const before = await selectRow(tx, table, key);
        if (before !== undefined && input.ifAbsent === true) return { control: before, changed: false };
        // ifAbsent: of two processes tripping the same breaker at once, one writes (and audits).
        const { rows } = await tx.query<ControlRow>(
          `INSERT INTO ${table} (tenant_id, kind, target, agent, reason, set_by, set_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (tenant_id, kind, target, agent) ${
             input.ifAbsent === true
               ? 'DO NOTHING'
               : 'DO UPDATE SET reason = EXCLUDED.reason, set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at'
           }
           RETURNING *`,
          values,
        );
        if (rows[0] === undefined) {
          const winner = await selectRow(tx, table, key);
          if (winner === undefined) throw new Error('A control vanished while it was being set.');
          return { control: winner, changed: false };
        }
        const control = toControl(rows[0]);
        await appendAudit(
          tx,
          {
            tenantId: key.tenantId,
            actor: input.actor,
            action,
            target: auditTarget(key),
            before: before === undefined ? null : controlView(before),
            after: controlView(control),
            ...(input.details === undefined ? {} : { details: input.details }),
          },
          { schema },
        );
        await notifyChange(tx);
        return { control, changed: true };
      });
      if (result.changed) await refreshQuietly();
      return result;
    },

    async clear(input) {
      const key = checkKey(input);
      const action = key.kind === 'agent_paused' ? 'agent.resume' : 'control.clear';
      const cleared = await client.transaction(async (tx) => {
        const { rows } = await tx.query<ControlRow>(
          `DELETE FROM ${table} WHERE tenant_id = $1 AND kind = $2 AND target = $3 AND agent = $4 RETURNING *`,
          [key.tenantId, key.kind, key.target, key.agent ?? ''],
        );
        const row = rows[0];
        if (row === undefined) return undefined;
        const before = toControl(row);
        await appendAudit(
          tx,
          {
            tenantId: key.tenantId,
            actor: input.actor,
            action,
            target: auditTarget(key),
            before: controlView(before),
            after: null,
            ...(input.details === undefined ? {} : { details: input.details }),
          },
          { schema },
        );
        await notifyChange(tx);
        return before;
      });
      if (cleared !== undefined) await refreshQuietly();
      return cleared;
    },

    toolDisabled: ({ tool, agent, tenantId }) =>
      snapshot.find('tool_disabled', tool, tenantId, '') ??
      snapshot.find('tool_disabled', tool, tenantId, agent),

    agentHold({ agent, tenantId }) {
      const disabled = snapshot.find('agent_disabled', agent, tenantId);
      if (disabled !== undefined) return { control: disabled, code: 'agent_disabled' };
      const paused =
        snapshot.find('agent_paused', agent, tenantId) ?? snapshot.find('tenant_paused', tenantId, tenantId);
      return paused === undefined ? undefined : { control: paused, code: 'agent_paused' };
    },

    deploymentDisabled: (name) => snapshot.find('deployment_disabled', name, ALL_TENANTS),

    tenantPaused: (tenantId) => snapshot.find('tenant_paused', tenantId, tenantId),

    async close() {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await started?.catch(() => undefined);
      if (timer !== undefined) clearTimeout(timer);
      await unlisten?.();
      unlisten = undefined;
    },
  };
}

/** The controls by key, for lookups in the hot path. */
function indexControls(all: readonly Control[]) {
  const byKey = new Map<string, Control>();
  for (const control of all)
    byKey.set(keyOf(control.tenantId, control.kind, control.target, control.agent ?? ''), control);
  return {
    all: [...all],
    /** The control in `tenantId` or in every tenant (`*`). */
    find(kind: ControlKind, target: string, tenantId: string, agent = ''): Control | undefined {
      return (
        byKey.get(keyOf(tenantId, kind, target, agent)) ?? byKey.get(keyOf(ALL_TENANTS, kind, target, agent))
      );
    },
  };
}

function keyOf(tenantId: string, kind: string, target: string, agent: string): string {
  return JSON.stringify([tenantId, kind, target, agent]);
}

async function selectRow(tx: SqlExecutor, table: string, key: ControlKey): Promise<Control | undefined> {
  const { rows } = await tx.query<ControlRow>(
    `SELECT * FROM ${table} WHERE tenant_id = $1 AND kind = $2 AND target = $3 AND agent = $4 FOR UPDATE`,
    [key.tenantId, key.kind, key.target, key.agent ?? ''],
  );
  return rows[0] === undefined ? undefined : toControl(rows[0]);
}

function toControl(row: ControlRow): Control {
  return {
    tenantId: row.tenant_id,
    kind: row.kind,
    target: row.target,
    agent: row.agent === '' ? null : row.agent,
    reason: row.reason,
    setBy: row.set_by,
    setAt: toDate(row.set_at),
    source: 'database',
  };
}

/** A control as the API, the CLI and the audit log show it (snake_case). */
export function controlView(control: Control) {
  return {
    tenant_id: control.tenantId,
    kind: control.kind,
    target: control.target,
    agent: control.agent,
    reason: control.reason,
    set_by: control.setBy,
    set_at: control.setAt.toISOString(),
    source: control.source,
  };
}

/** `tool:weather`, `agent:planner`, `deployment:openai-eu`, `tenant:acme` (audit targets). */
function auditTarget(key: ControlKey): string {
  const thing =
    key.kind === 'tool_disabled'
      ? 'tool'
      : key.kind === 'deployment_disabled'
        ? 'deployment'
        : key.kind === 'tenant_paused'
          ? 'tenant'
          : 'agent';
  return `${thing}:${key.target}`;
}

/** Validates a control's identity; throws `invalid_control` naming the field. */
function checkKey(key: ControlKey): ControlKey {
  if (!(CONTROL_KINDS as readonly string[]).includes(key.kind))
    throw new InvalidControlError('kind', `must be one of ${CONTROL_KINDS.join(', ')}`);
  if (typeof key.tenantId !== 'string' || !(key.tenantId === ALL_TENANTS || TARGET.test(key.tenantId)))
    throw new InvalidControlError('tenant_id', 'must be a tenant id or "*"');
  if (typeof key.target !== 'string' || !TARGET.test(key.target))
    throw new InvalidControlError('target', 'must be 1-200 letters, digits or _ . : @ / -');
  const agent = key.agent ?? null;
  if (agent !== null) {
    if (key.kind !== 'tool_disabled')
      throw new InvalidControlError(
        'agent',
        'applies to tool_disabled only (the tool is disabled for that agent)',
      );
    if (typeof agent !== 'string' || !TARGET.test(agent))
      throw new InvalidControlError('agent', 'must be an agent name');
  }
  if (key.kind === 'deployment_disabled' && key.tenantId !== ALL_TENANTS)
    throw new InvalidControlError('tenant_id', 'a deployment is shared by every tenant: use "*"');
  if (key.kind === 'tenant_paused' && key.tenantId !== key.target)
    throw new InvalidControlError('target', 'a tenant_paused control targets its own tenant');
  return { tenantId: key.tenantId, kind: key.kind, target: key.target, agent };
}

function checkReason(reason: string | undefined): string {
  if (reason === undefined) return '';
  if (typeof reason !== 'string' || reason.length > MAX_REASON || reason.includes('\u0000'))
    throw new InvalidControlError('reason', `must be text of at most ${MAX_REASON} characters`);
  return reason;
}
