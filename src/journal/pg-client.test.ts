import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { describePostgres } from '../testing/postgres.js';
import { createTcpProxy, type TcpProxy } from '../testing/tcp-proxy.js';
import { createPgClient, createPgConnectionConfig, DEFAULT_QUERY_TIMEOUT_MS } from './pg-client.js';
import { createJsonLogger } from '../util/logger.js';
import type { SqlClient } from './sql-client.js';

describePostgres('pg client against a real Postgres', (connectionString) => {
  // Terminating backends needs a connection of its own, outside the client under test.
  let admin: pg.Client;
  beforeAll(async () => {
    admin = new pg.Client({ connectionString });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
  });
  const terminate = (applicationName: string, queryPrefix = '') =>
    admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE application_name = $1 AND query LIKE $2 AND pid <> pg_backend_pid()`,
      [applicationName, `${queryPrefix}%`],
    );
  const open = (applicationName: string, options: { idleTimeoutMillis?: number } = {}): SqlClient =>
    createPgClient({
      connectionString,
      applicationName,
      reconnectDelayMs: { initial: 10, max: 100 },
      ...options,
    });
  const listenBackends = async (applicationName: string) =>
    (
      await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
        [applicationName],
      )
    ).rows.map((row) => row.pid);

  it('parses int8 as numbers, numeric as exact strings, timestamptz as dates', async () => {
    const client = open('keel_test_types');
    try {
      const { rows } = await client.query<Record<string, unknown>>(
        `SELECT 42::int8 AS fence, ARRAY[1, 2]::int8[] AS fences, 9007199254740993::int8 AS huge,
                0.1::numeric AS cost, now() AS at, '{"a":[1]}'::jsonb AS body`,
      );
      expect(rows[0]).toMatchObject({
        fence: 42,
        fences: [1, 2],
        huge: 9007199254740993n,
        cost: '0.1',
        body: { a: [1] },
      });
      expect(rows[0]?.at).toBeInstanceOf(Date);
    } finally {
      await client.close();
    }
  });

  it('survives idle connections being dropped, and a drop in the middle of a transaction', async () => {
    const client = open('keel_test_drops');
    try {
      await Promise.all([client.query('SELECT 1'), client.query('SELECT 1')]);
      await terminate('keel_test_drops');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

      const failed = client.transaction(async (tx) => {
        await tx.query('SELECT 1');
        await terminate('keel_test_drops');
        await new Promise((resolve) => setTimeout(resolve, 50));
        await tx.query('SELECT 1');
      });
      await expect(failed).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect((await client.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one'))).rows).toEqual([
        { one: 1 },
      ]);
    } finally {
      await client.close();
    }
  });

  it('logs the pool replacement once per episode of timeouts, again after the database answered', async () => {
    const lines: string[] = [];
    const logger = createJsonLogger({
      level: 'warn',
      write: (line) => lines.push((JSON.parse(line) as { msg: string }).msg),
    });
    const client = createPgClient({ connectionString, queryTimeoutMs: 200, logger });
    const replaced = () => lines.filter((line) => line.startsWith('database statement timed out')).length;
    try {
      await expect(client.query('SELECT pg_sleep(1)')).rejects.toBeInstanceOf(DatabaseUnavailableError);
      await expect(client.query('SELECT pg_sleep(1)')).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect(replaced()).toBe(1);
      await client.query('SELECT 1');
      await expect(client.query('SELECT pg_sleep(1)')).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect(replaced()).toBe(2);
    } finally {
      await client.close();
    }
  });

  it('keeps the LISTEN connection a while after the last unsubscribe: subscribing again reuses it', async () => {
    const client = open('keel_test_linger', { idleTimeoutMillis: 60_000 });
    const payloads: string[] = [];
    try {
      const first = await client.listen('keel_test_linger', (payload) => payloads.push(`first:${payload}`));
      const [backend] = await listenBackends('keel_test_linger');
      expect(backend).toBeDefined();
      await first();
      const second = await client.listen('keel_test_linger', (payload) => payloads.push(`second:${payload}`));
      // The same backend, still listening: no new connection, and the new subscriber is told.
      expect(await listenBackends('keel_test_linger')).toEqual([backend]);
      await client.notify('keel_test_linger', 'x');
      await waitFor(() => payloads.includes('second:x'));
      expect(payloads).toEqual(['second:x']);
      await second();
    } finally {
      await client.close();
    }
    await waitFor(async () => (await listenBackends('keel_test_linger')).length === 0);
  });

  it('re-subscribes LISTEN after its connection drops', async () => {
    const client = open('keel_test_listen', { idleTimeoutMillis: 100 });
    const payloads: string[] = [];
    try {
      const unsubscribe = await client.listen('keel_test_channel', (payload) => payloads.push(payload));
      await client.notify('keel_test_channel', 'before');
      await waitFor(() => payloads.includes('before'));

      await terminate('keel_test_listen', 'LISTEN');
      // Notify until one arrives: the listener comes back after a reconnect with backoff.
      await waitFor(async () => {
        await client.notify('keel_test_channel', 'after');
        return payloads.includes('after');
      });
      await unsubscribe();
      // Closed once it has lingered its idle time without a subscriber.
      await waitFor(async () => (await listenBackends('keel_test_listen')).length === 0);
    } finally {
      await client.close();
    }
  });

  it('holds a session lock on its dedicated connection, loses it with the connection and takes it again', async () => {
    const client = open('keel_test_session_lock', { idleTimeoutMillis: 100 });
    const key = { namespace: 7_001, name: `lock-${process.pid}-${Date.now()}` };
    const lockHolders = async () =>
      (
        await admin.query<{ pid: number; application_name: string }>(
          `SELECT activity.pid, activity.application_name
           FROM pg_locks AS lock JOIN pg_stat_activity AS activity USING (pid)
           WHERE lock.locktype = 'advisory' AND lock.classid = $1::int4::oid AND lock.objid = hashtext($2)::oid
             AND lock.objsubid = 2 AND lock.granted`,
          [key.namespace, key.name],
        )
      ).rows;
    try {
      const hold = await client.holdSessionLock!(key);
      expect(hold.isHeld()).toBe(true);
      const [first] = await lockHolders();
      expect(first?.application_name).toBe('keel_test_session_lock');
      // Another session cannot take it while it is held.
      const other = open('keel_test_session_lock_other');
      const refused = await other.holdSessionLock!(key);
      expect(refused.isHeld()).toBe(false);
      await refused.release();
      await other.close();

      // The connection dies (as it does with its process): the lock goes with it; the client
      // reconnects and takes it again by itself, on a new backend.
      await terminate('keel_test_session_lock');
      await waitFor(async () => {
        const holders = await lockHolders();
        return holders.length === 1 && holders[0]?.pid !== first?.pid;
      });
      await waitFor(() => hold.isHeld());
      expect((await lockHolders()).map((holder) => holder.application_name)).toEqual([
        'keel_test_session_lock',
      ]);

      await hold.release();
      expect(hold.isHeld()).toBe(false);
      expect(await lockHolders()).toEqual([]);
      // Nothing else used the dedicated connection: it is closed once it lingered its idle time.
      await waitFor(async () => {
        const connections = await admin.query<{ count: number }>(
          `SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = 'keel_test_session_lock'`,
        );
        return connections.rows[0]?.count === 0;
      });
    } finally {
      await client.close();
    }
  });
});

describe('pg connection settings', () => {
  it('set TCP keepalive in seconds, a client-side statement timeout and a connect timeout', () => {
    const config = createPgConnectionConfig({ connectionString: 'postgres://localhost/keel' });
    expect(config).toMatchObject({
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      query_timeout: DEFAULT_QUERY_TIMEOUT_MS,
      connectionTimeoutMillis: 10_000,
    });
    const tuned = createPgConnectionConfig({
      connectionString: 'postgres://localhost/keel',
      queryTimeoutMs: 0,
      keepAliveInitialDelayMs: 3_000,
    });
    expect(tuned.keepAliveInitialDelayMillis).toBe(3_000);
    expect(tuned).not.toHaveProperty('query_timeout');
  });
});

describePostgres('pg client behind a database that goes silent', (connectionString) => {
  let proxy: TcpProxy;
  let proxiedUrl: string;
  beforeEach(async () => {
    proxy = await createTcpProxy({ targetPort: Number(new URL(connectionString).port || 5432) });
    const url = new URL(connectionString);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    proxiedUrl = url.toString();
  });
  afterEach(async () => {
    await proxy.close();
  });
  const open = (): SqlClient =>
    createPgClient({
      connectionString: proxiedUrl,
      max: 1,
      queryTimeoutMs: 300,
      connectionTimeoutMillis: 300,
      listenCheckMs: 100,
      reconnectDelayMs: { initial: 10, max: 100 },
    });

  it('fails a statement on a silent connection, destroys the connection and replaces it', async () => {
    const client = open();
    try {
      await client.query('SELECT 1');
      const before = client.lastRoundTripAt?.();
      expect(before).toBeTypeOf('number');
      proxy.setMode('blackhole');
      await expect(client.query('SELECT 1')).rejects.toBeInstanceOf(DatabaseUnavailableError);
      // New connections are swallowed too: the connect timeout answers.
      await expect(client.query('SELECT 1')).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect(client.lastRoundTripAt?.()).toBe(before);

      proxy.setMode('pass');
      // One connection in the pool: had the stuck one been returned, this would time out too.
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(client.lastRoundTripAt?.()).toBeGreaterThanOrEqual(before!);
      expect(proxy.stats().accepted).toBe(3);
    } finally {
      await client.close();
    }
  });

  it('replaces every idle connection after a timeout, so the next statement does not wait out another', async () => {
    const client = createPgClient({ connectionString: proxiedUrl, max: 3, queryTimeoutMs: 300 });
    try {
      // Three idle connections, all opened before the failover.
      await Promise.all([1, 2, 3].map(() => client.query('SELECT pg_sleep(0.05)')));
      expect(proxy.stats().forwarding).toBe(3);
      proxy.setMode('failover');
      await expect(client.query('SELECT 1')).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect((await client.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one'))).rows).toEqual([
        { one: 1 },
      ]);
    } finally {
      await client.close();
    }
  });

  it('destroys a transaction connection whose statement timed out, and the next transaction works', async () => {
    const client = open();
    try {
      await client.query('SELECT 1');
      const failed = client.transaction(async (tx) => {
        await tx.query('SELECT 1');
        proxy.setMode('failover');
        await tx.query('SELECT 2');
      });
      await expect(failed).rejects.toBeInstanceOf(DatabaseUnavailableError);
      expect((await client.transaction((tx) => tx.query<{ two: number }>('SELECT 2 AS two'))).rows).toEqual([
        { two: 2 },
      ]);
      // The client closed the silent connection itself (the proxy never would).
      await waitFor(() => proxy.stats().silent === 0);
      expect(proxy.stats()).toMatchObject({ accepted: 2, forwarding: 1 });
    } finally {
      await client.close();
    }
  });

  it('notices a silently dead LISTEN connection, reconnects and subscribes again', async () => {
    const client = open();
    const payloads: string[] = [];
    const direct = createPgClient({ connectionString });
    try {
      const unsubscribe = await client.listen('keel_test_silent', (payload) => payloads.push(payload));
      await direct.notify('keel_test_silent', 'before');
      await waitFor(() => payloads.includes('before'));

      proxy.setMode('failover');
      // Notify until one arrives: only a LISTEN connection opened after the failover can get it.
      await waitFor(async () => {
        await direct.notify('keel_test_silent', 'after');
        return payloads.includes('after');
      });
      await waitFor(() => proxy.stats().silent === 0);
      expect(proxy.stats()).toMatchObject({ accepted: 2, forwarding: 1 });
      await unsubscribe();
    } finally {
      await client.close();
      await direct.close();
    }
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
