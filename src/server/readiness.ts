import type { AgentModelStatus } from '../config/check-models.js';
import { migrationStatus } from '../journal/migrations.js';
import type { SqlExecutor } from '../journal/sql-client.js';

/** What `/readyz` reports. */
export interface ReadinessReport {
  ok: boolean;
  database: 'reachable' | 'unreachable';
  /** Null when the database could not be asked. */
  migrations: { up_to_date: boolean; pending: number[]; unknown: number[] } | null;
  /** The agents' models as checked at start (check-models.ts); absent when not given. */
  models?: { ok: boolean; agents: { agent: string; model: string; ok: boolean; problems: string[] }[] };
}

/** A readiness probe: resolves (never rejects) with a report. */
export type ReadinessCheck = () => Promise<ReadinessReport>;

/**
 * Ready means the database answers within `timeoutMs`, its schema is exactly the one this
 * code knows (no pending migration, none from newer code), and every agent's model passed the
 * start-up check (`models`, when given).
 */
export function createReadinessCheck({
  client,
  schema,
  timeoutMs = 2_000,
  models,
}: {
  client: SqlExecutor;
  schema?: string;
  timeoutMs?: number;
  /** What `checkAgentModels` found when the config loaded. */
  models?: readonly AgentModelStatus[];
}): ReadinessCheck {
  const modelReport =
    models === undefined
      ? undefined
      : {
          ok: models.every((status) => status.ok),
          agents: models.map(({ agent, model, ok, problems }) => ({
            agent,
            model,
            ok,
            problems: problems.map((problem) => `${problem.field}: ${problem.message}`),
          })),
        };
  const modelsOk = modelReport?.ok ?? true;
  const withModels = (report: ReadinessReport): ReadinessReport =>
    modelReport === undefined ? report : { ...report, ok: report.ok && modelsOk, models: modelReport };
  const check = createDatabaseCheck({ client, timeoutMs, ...(schema === undefined ? {} : { schema }) });
  return async () => withModels(await check());
}

function createDatabaseCheck({
  client,
  schema,
  timeoutMs,
}: {
  client: SqlExecutor;
  schema?: string;
  timeoutMs: number;
}): ReadinessCheck {
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('readiness check timed out')), timeoutMs);
    });
    try {
      const status = await Promise.race([
        migrationStatus(client, schema === undefined ? {} : { schema }),
        timeout,
      ]);
      return {
        ok: status.upToDate,
        database: 'reachable',
        migrations: { up_to_date: status.upToDate, pending: status.pending, unknown: status.unknown },
      };
    } catch {
      return { ok: false, database: 'unreachable', migrations: null };
    } finally {
      clearTimeout(timer);
    }
  };
}
