import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import { describePostgres } from '../testing/postgres.js';
import { createFakeClock } from '../testing/fake-clock.js';
import { createTcpProxy, type TcpProxy } from '../testing/tcp-proxy.js';
import { createJsonLogger } from '../util/logger.js';
import { createHealthCheck, sendHealth, type HealthCheck } from './health.js';
import { healthResponse } from './schemas.js';

describePostgres('/healthz over a database that goes silent', (connectionString) => {
  let proxy: TcpProxy;
  beforeEach(async () => {
    proxy = await createTcpProxy({ targetPort: Number(new URL(connectionString).port || 5432) });
  });
  afterEach(async () => {
    await proxy.close();
  });

  it('fails with database_silent while no round trip succeeds, and passes again once one does', async () => {
    const url = new URL(connectionString);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const client = createPgClient({
      connectionString: url.toString(),
      queryTimeoutMs: 200,
      connectionTimeoutMillis: 200,
    });
    const lines: { msg: string }[] = [];
    const logger = createJsonLogger({
      level: 'info',
      write: (line) => lines.push(JSON.parse(line) as { msg: string }),
    });
    const health = createHealthCheck({ client, maxSilenceMs: 600, probeAfterMs: 50, logger });
    const server = createHttpServer((_request, response) => sendHealth(response, health()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const healthz = async () => {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    try {
      await client.query('SELECT 1');
      expect(await healthz()).toEqual({ status: 200, body: { ok: true } });

      // Everything hangs, new connections too: the process is wedged.
      proxy.setMode('blackhole');
      const wedged = await pollUntil(healthz, ({ status }) => status === 503);
      expect(wedged.body).toMatchObject({ ok: false, reason: 'database_silent', max_silence_ms: 600 });
      expect(wedged.body.database_silent_ms).toBeGreaterThanOrEqual(600);
      expect(healthResponse.safeParse(wedged.body).success).toBe(true); // what /openapi.json promises

      // The probes it sends while checked bring it back as soon as the database answers.
      proxy.setMode('pass');
      expect(await pollUntil(healthz, ({ status }) => status === 200)).toEqual({
        status: 200,
        body: { ok: true },
      });
      const messages = lines.map((line) => line.msg);
      expect(messages.filter((message) => message.startsWith('healthz failing'))).toHaveLength(1);
      expect(messages.filter((message) => message.startsWith('healthz passing again'))).toHaveLength(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await client.close();
    }
  }, 30_000);
});

it('a database that refuses connections is down, not silent: /healthz passes (a restart would not help)', async () => {
  // A port nothing listens on: every connection is refused at once.
  const closed = createHttpServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const client = createPgClient({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  try {
    const health = createHealthCheck({ client, maxSilenceMs: 300, probeAfterMs: 0 });
    const startedAt = Date.now();
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: 'database_unavailable' });
    expect(client.lastRoundTripAt?.()).toBeGreaterThanOrEqual(startedAt);
    expect(health()).toEqual({ ok: true });
  } finally {
    await client.close();
  }
});

it('on the embedded database, an idle process stays healthy: the probe is a round trip', async () => {
  const client = await createPgliteClient({ dataDir: 'memory://' });
  try {
    const health: HealthCheck = createHealthCheck({ client, maxSilenceMs: 200, probeAfterMs: 0 });
    health(); // starts a probe
    await pollUntil(
      async () => client.lastRoundTripAt?.(),
      (at) => at !== undefined,
    );
    expect(health()).toEqual({ ok: true });
  } finally {
    await client.close();
  }
});

it('passes after a quiet spell while its probe is out, and fails once the probe goes unanswered too long', () => {
  const clock = createFakeClock();
  let last: number | undefined = clock.now();
  const queries: string[] = [];
  const client = {
    query: (sql: string) => {
      queries.push(sql);
      return new Promise<never>(() => {}); // never answered
    },
    lastRoundTripAt: () => last,
  };
  const health = createHealthCheck({ client, maxSilenceMs: 60_000, probeAfterMs: 5_000, clock });
  clock.advance(10 * 60_000); // idle for ten minutes: nothing was waiting for the database
  expect(health()).toEqual({ ok: true });
  expect(queries).toEqual(['SELECT 1']);
  clock.advance(59_000);
  expect(health()).toEqual({ ok: true });
  clock.advance(1_000);
  expect(health()).toMatchObject({ ok: false, reason: 'database_silent' });
  // An answer ends the wait.
  last = clock.now();
  expect(health()).toEqual({ ok: true });
});

it('is always healthy over a client that cannot tell its round trips', () => {
  const health = createHealthCheck({ client: { query: () => new Promise(() => {}) }, maxSilenceMs: 0 });
  expect(health()).toEqual({ ok: true });
});

async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in time; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
