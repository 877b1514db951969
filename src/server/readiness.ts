import { migrationStatus } from '../journal/migrations.js';
import type { SqlExecutor } from '../journal/sql-client.js';

/** What `/readyz` reports. */
export interface ReadinessReport {
  ok: boolean;
  database: 'reachable' | 'unreachable';
  /** Null when the database could not be asked. */
  migrations: { up_to_date: boolean; pending: number[]; unknown: number[] } | null;
}

/** A readiness probe: resolves (never rejects) with a report. */
export type ReadinessCheck = () => Promise<ReadinessReport>;

/**
 * Ready means the database answers within `timeoutMs` and its schema is exactly the one this
 * code knows (no pending migration, none from newer code).
 */
export function createReadinessCheck({
  client,
  schema,
  timeoutMs = 2_000,
}: {
  client: SqlExecutor;
  schema?: string;
  timeoutMs?: number;
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
