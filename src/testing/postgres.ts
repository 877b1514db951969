import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { beforeAll, describe, it } from 'vitest';
import { migrate } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';

/**
 * Helpers for tests that run against a real Postgres as well as PGlite. They depend on vitest
 * and are meant for Keel's own test suites (and CI), not for application code.
 *
 * Environment:
 * - `KEEL_TEST_POSTGRES_URL`: the server to test against, e.g.
 *   `postgres://postgres@127.0.0.1:5432/postgres`. Unset: Postgres suites are skipped, visibly.
 * - `KEEL_REQUIRE_POSTGRES=1` (CI): a missing URL or an unreachable server fails the suites
 *   instead of skipping them, so CI can never go green without having run them.
 */

/** A fresh schema name per test (`keel_t_` + 12 hex chars), so tests never see each other's rows. */
export function createTestSchemaName(): string {
  return `keel_t_${randomBytes(6).toString('hex')}`;
}

/** `KEEL_TEST_POSTGRES_URL`, or undefined when unset or empty. */
export function postgresTestUrl(
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const url = env.KEEL_TEST_POSTGRES_URL?.trim();
  return url ? url : undefined;
}

/** True when `KEEL_REQUIRE_POSTGRES=1`: Postgres suites must run, never skip. */
export function isPostgresRequired(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return env.KEEL_REQUIRE_POSTGRES === '1';
}

/**
 * `describe` for a suite that needs Postgres; `body` receives the connection string. Shaped like
 * vitest's own `describe(name, fn)` so suites read the same. With no URL the suite is skipped
 * with the reason in its name, or fails when Postgres is required. With a URL, a first hook
 * checks the server answers and fails every test of the suite with a clear message otherwise
 * (a URL that is set but unreachable is a broken setup, not a reason to skip).
 */
export function describePostgres(name: string, body: (connectionString: string) => void): void {
  const url = postgresTestUrl();
  if (url === undefined) {
    if (isPostgresRequired()) {
      describe(name, () => {
        it('needs Postgres', () => {
          throw new Error('KEEL_REQUIRE_POSTGRES=1 but KEEL_TEST_POSTGRES_URL is not set.');
        });
      });
    } else {
      describe.skip(`${name} (skipped: set KEEL_TEST_POSTGRES_URL to run against Postgres)`, () => body(''));
    }
    return;
  }
  describe(name, () => {
    beforeAll(() => assertPostgresReachable(url));
    body(url);
  });
}

/** Connects once and runs `SELECT 1`; throws a clear error (without the password) otherwise. */
export async function assertPostgresReachable(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `Postgres at ${redactPassword(connectionString)} is unreachable: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

function redactPassword(connectionString: string): string {
  return connectionString.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

function describeError(error: unknown): string {
  if (error instanceof AggregateError) return error.errors.map(describeError).join('; ');
  return error instanceof Error ? error.message || String((error as { code?: unknown }).code) : String(error);
}

/**
 * A SQL client opened once per suite (`open`/`close`) and a fresh migrated schema per test
 * (`begin`/`end`, dropped after): the lifecycle the contract suites over PGlite and Postgres share.
 */
export function sqlTestSchemas(openClient: () => Promise<SqlClient>) {
  let opened: SqlClient | undefined;
  let current = '';
  const client = () => {
    if (opened === undefined) throw new Error('not open');
    return opened;
  };
  return {
    client,
    async open() {
      opened = await openClient();
    },
    /** A fresh schema, migrated; its name. */
    async begin(): Promise<string> {
      current = createTestSchemaName();
      await migrate(client(), { schema: current });
      return current;
    },
    async end() {
      await client().exec(`DROP SCHEMA IF EXISTS ${current} CASCADE`);
    },
    async close() {
      await opened?.close();
    },
  };
}
