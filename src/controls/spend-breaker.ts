import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { silentLogger, type Logger } from '../util/logger.js';
import type { SpendBreakerRule } from './controls-config.js';
import { ALL_TENANTS, type Control, type Controls } from './controls.js';

/** One model call's spend, as fed to the breakers. */
export interface Spend {
  tenantId: string;
  /** The agent that spent it (absent for a gateway HTTP call, which has no agent). */
  agent?: string | null;
  costUsd: number;
}

/** A breaker that tripped: what it paused and why. The alert event. */
export interface BreakerTrip {
  scope: 'agent' | 'tenant';
  /** The agent or tenant paused. */
  id: string;
  window: string;
  maxUsd: number;
  /** The spend in the window when it tripped. */
  spentUsd: number;
  /** The pause control it set. */
  control: Control;
}

/** Spend breakers over the shared database: every process adds to the same buckets. */
export interface SpendBreakers {
  readonly rules: readonly SpendBreakerRule[];
  /**
   * Adds a call's spend to the windows of the breakers that watch it, then checks them: one
   * that passes `maxUsd` pauses its agent (every tenant) or tenant, audited `breaker.trip` by
   * `system:breaker`, and is reported (log at warn, `onTrip`). Returns the trips of this call.
   */
  record(spend: Spend): Promise<BreakerTrip[]>;
  /** The spend of `scope`/`id` in the last `windowMinutes` (whole minutes, the current one included). */
  spent(query: { scope: 'agent' | 'tenant'; id: string; windowMinutes: number }): Promise<number>;
}

/** Options of {@link createSpendBreakers}. */
export interface SpendBreakersOptions {
  client: SqlClient;
  controls: Controls;
  rules: readonly SpendBreakerRule[];
  schema?: string;
  /** Told of every trip (after it is written): page someone, post to a channel. Must not throw. */
  onTrip?: (trip: BreakerTrip) => void;
  logger?: Logger;
  now?: () => Date;
}

const MINUTE_MS = 60_000;
/** How often a process deletes buckets older than the longest window. */
const PRUNE_EVERY_MS = 10 * MINUTE_MS;

/**
 * Creates the spend breakers. Spend is kept per minute per (scope, id), so a sliding window is
 * a range sum over at most `windowMinutes + 1` rows. The window includes its oldest minute in
 * full, so it may count up to a minute more than the exact window: a breaker errs early.
 */
export function createSpendBreakers({
  client,
  controls,
  rules,
  schema = DEFAULT_SCHEMA,
  onTrip,
  logger = silentLogger,
  now = () => new Date(),
}: SpendBreakersOptions): SpendBreakers {
  const table = `${assertSchemaName(schema)}.spend_buckets`;
  const longestMinutes = Math.max(0, ...rules.map((rule) => rule.windowMinutes));
  let prunedAt = 0;

  const spent: SpendBreakers['spent'] = async ({ scope, id, windowMinutes }) => {
    const since = minuteOf(now().getTime() - (windowMinutes - 1) * MINUTE_MS);
    const { rows } = await client.query<{ spent: string | null }>(
      `SELECT sum(cost_usd) AS spent FROM ${table} WHERE scope = $1 AND scope_id = $2 AND minute >= $3`,
      [scope, id, since],
    );
    return Number(rows[0]?.spent ?? 0);
  };

  const watched = (spend: Spend) =>
    rules.flatMap((rule) => {
      const id = rule.scope === 'agent' ? spend.agent : spend.tenantId;
      if (id === undefined || id === null || (rule.target !== undefined && rule.target !== id)) return [];
      return [{ rule, id }];
    });

  const trip = async (
    rule: SpendBreakerRule,
    id: string,
    spentUsd: number,
  ): Promise<BreakerTrip | undefined> => {
    const reason = `spend breaker: $${spentUsd.toFixed(4)} in ${rule.window} passed $${rule.maxUsd}`;
    const { control, changed } = await controls.set({
      tenantId: rule.scope === 'agent' ? ALL_TENANTS : id,
      kind: rule.scope === 'agent' ? 'agent_paused' : 'tenant_paused',
      target: id,
      reason,
      actor: 'system:breaker',
      action: 'breaker.trip',
      ifAbsent: true,
      details: { scope: rule.scope, window: rule.window, max_usd: rule.maxUsd, spent_usd: spentUsd },
    });
    if (!changed) return undefined;
    const tripped: BreakerTrip = {
      scope: rule.scope,
      id,
      window: rule.window,
      maxUsd: rule.maxUsd,
      spentUsd,
      control,
    };
    logger.warn('spend breaker tripped: paused', {
      scope: rule.scope,
      id,
      window: rule.window,
      maxUsd: rule.maxUsd,
      spentUsd,
    });
    try {
      onTrip?.(tripped);
    } catch (error) {
      logger.error('spend breaker alert hook failed', { error: String(error) });
    }
    return tripped;
  };

  const prune = async (at: number) => {
    if (at - prunedAt < PRUNE_EVERY_MS) return;
    prunedAt = at;
    await client.query(`DELETE FROM ${table} WHERE minute < $1`, [
      minuteOf(at - (longestMinutes + 1) * MINUTE_MS),
    ]);
  };

  return {
    rules,
    spent,
    async record(spend) {
      const targets = watched(spend);
      if (targets.length === 0 || !(Number.isFinite(spend.costUsd) && spend.costUsd > 0)) return [];
      const at = now().getTime();
      const scopes = unique(targets.map(({ rule, id }) => `${rule.scope}\u0000${id}`)).map((key) =>
        key.split('\u0000'),
      );
      // One round trip: the upsert, and each watched window's sum. The sums read the snapshot
      // from before the upsert (a statement does not see its own writes), so add this call's cost.
      const { rows } = await client.query<{ spent: string }>(
        `WITH added AS (
           INSERT INTO ${table} (scope, scope_id, minute, cost_usd)
           SELECT scope, scope_id, $3, $4 FROM unnest($1::text[], $2::text[]) AS t(scope, scope_id)
           ON CONFLICT (scope, scope_id, minute) DO UPDATE SET cost_usd = ${table}.cost_usd + EXCLUDED.cost_usd
         )
         SELECT coalesce((SELECT sum(cost_usd) FROM ${table} AS bucket
                          WHERE bucket.scope = w.scope AND bucket.scope_id = w.scope_id AND bucket.minute >= w.since), 0)
                + $4 AS spent
         FROM unnest($5::text[], $6::text[], $7::timestamptz[]) WITH ORDINALITY AS w(scope, scope_id, since, position)
         ORDER BY w.position`,
        [
          scopes.map(([scope]) => scope),
          scopes.map(([, id]) => id),
          minuteOf(at),
          spend.costUsd,
          targets.map(({ rule }) => rule.scope),
          targets.map(({ id }) => id),
          targets.map(({ rule }) => minuteOf(at - (rule.windowMinutes - 1) * MINUTE_MS)),
        ],
      );
      const trips: BreakerTrip[] = [];
      for (const [index, { rule, id }] of targets.entries()) {
        const total = Number(rows[index]?.spent ?? 0);
        if (total <= rule.maxUsd) continue;
        const held =
          rule.scope === 'agent' ? controls.agentHold({ agent: id, tenantId: ALL_TENANTS }) : undefined;
        if (held?.code === 'agent_paused' && held.control.tenantId === ALL_TENANTS) continue;
        const tripped = await trip(rule, id, total);
        if (tripped !== undefined) trips.push(tripped);
      }
      await prune(at).catch((error: unknown) =>
        logger.warn('spend bucket prune failed', { error: String(error) }),
      );
      return trips;
    },
  };
}

function minuteOf(epochMs: number): Date {
  return new Date(Math.floor(epochMs / MINUTE_MS) * MINUTE_MS);
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
