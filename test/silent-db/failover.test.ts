/**
 * A database that goes silent, with real processes: `keel serve --no-worker` and two
 * `keel worker`s (dist/, as deployed) reach Postgres through a TCP proxy. Mid-load the proxy
 * fails over (every open connection goes silently dead, new ones work): every run completes
 * within 2 × lease + 10 s with its effect once, and the API answers 200 again within the same
 * bound. Then the proxy blackholes everything: `/healthz` fails while the server is wedged, and
 * everything recovers by itself once the database answers again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKeys } from '../../src/gateway/api-keys.js';
import { openStore } from '../../src/journal/open-store.js';
import { createPgClient } from '../../src/journal/pg-client.js';
import { createEffectLedger } from '../../src/tools/effect-ledger.js';
import { createTestSchemaName, describePostgres } from '../../src/testing/postgres.js';
import { createTcpProxy, type TcpProxy } from '../../src/testing/tcp-proxy.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEEL_BIN = fileURLToPath(new URL('../../bin/keel.js', import.meta.url));
const CONFIG = fileURLToPath(new URL('./failover.config.mjs', import.meta.url));
const DIST_INDEX = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

const LEASE_MS = 3_000;
const BOUND_MS = 2 * LEASE_MS + 10_000;
const RUNS = 40;

interface KeelProcess {
  child: ChildProcess;
  /** Keel's JSON log lines (stderr), parsed; other stderr text as `{ msg: text }`. */
  lines: { msg: string; [field: string]: unknown }[];
  text(): string;
}

const live = new Set<ChildProcess>();

function spawnKeel(args: string[], env: Record<string, string>): KeelProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, KEEL_LOG_LEVEL: 'info', ...env };
  delete childEnv.NODE_OPTIONS; // vitest's loader flags have no business in the child
  const child = spawn(process.execPath, [KEEL_BIN, ...args, '--config', CONFIG], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  const lines: KeelProcess['lines'] = [];
  let buffer = '';
  let all = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    all = (all + chunk).slice(-200_000);
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line === '') continue;
      try {
        lines.push(JSON.parse(line) as { msg: string });
      } catch {
        lines.push({ msg: line });
      }
    }
  });
  return { child, lines, text: () => all };
}

async function stopKeel(process: KeelProcess): Promise<void> {
  const { child } = process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function waitFor<T>(
  what: string,
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached in ${timeoutMs} ms (last: ${String(value)})`);
    await sleep(100);
  }
}

describePostgres('a database that goes silent under real processes', (connectionString) => {
  const database = createTestSchemaName();
  let admin: pg.Client;
  let direct: ReturnType<typeof createPgClient>;
  let proxy: TcpProxy;
  let proxiedUrl: string;
  let apiKey: string;
  const processes: KeelProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(DIST_INDEX)) throw new Error(`${DIST_INDEX} is missing: run \`npm run build\` first.`);
    admin = new pg.Client({ connectionString });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(connectionString);
    url.pathname = `/${database}`;
    const directUrl = url.toString();
    const { store } = await openStore({ databaseUrl: directUrl });
    await store.close();
    direct = createPgClient({ connectionString: directUrl });
    await createEffectLedger({ client: direct, schema: 'failover' }).ensureTable();
    await direct.exec('CREATE TABLE failover.charges (id bigserial PRIMARY KEY, step_key text NOT NULL)');
    ({ key: apiKey } = await createApiKeys({ client: direct }).create({
      tenantId: 'default',
      scopes: ['runs:read', 'runs:write'],
    }));
    proxy = await createTcpProxy({ targetPort: Number(url.port || 5432) });
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    proxiedUrl = url.toString();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(processes.map((process) => stopKeel(process)));
    for (const child of live) child.kill('SIGKILL');
    await proxy?.close();
    await direct?.close();
    await admin?.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin?.end();
  }, 60_000);

  it('rides out a failover and a blackhole: runs complete with effects once, the API and /healthz recover', async () => {
    const env = {
      DATABASE_URL: proxiedUrl,
      KEEL_DB_QUERY_TIMEOUT_MS: String(LEASE_MS + 1_000),
      KEEL_DB_CONNECT_TIMEOUT_MS: '2000',
      KEEL_HEALTHZ_MAX_DB_SILENCE_MS: '3000',
      FAILOVER_TOOL_MS: '600',
    };
    const server = spawnKeel(['serve', '--no-worker', '--port', '0'], env);
    const workers = [1, 2].map(() =>
      spawnKeel(['worker', '--lease-ms', String(LEASE_MS), '--concurrency', '4'], env),
    );
    processes.push(server, ...workers);
    const serving = await waitFor(
      'server listening',
      () => server.lines.find((line) => line.msg === 'keel serving'),
      (line) => line !== undefined || server.child.exitCode !== null,
    );
    expect(serving, server.text()).toBeDefined();
    const baseUrl = String(serving!.url);
    for (const worker of workers) {
      await waitFor(
        'worker started',
        () => worker.lines.some((line) => line.msg === 'worker started') || worker.child.exitCode !== null,
        Boolean,
      );
      expect(worker.child.exitCode, worker.text()).toBeNull();
    }

    const api = async (path: string, init: RequestInit = {}) => {
      const response = await fetch(new URL(path, baseUrl), {
        ...init,
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        signal: AbortSignal.timeout(30_000),
      });
      return { status: response.status, body: (await response.json().catch(() => null)) as unknown };
    };
    const healthz = async () => (await fetch(new URL('/healthz', baseUrl))).status;
    const counts = async () => {
      const { rows } = await direct.query<{ status: string; count: number }>(
        'SELECT status, count(*)::int AS count FROM keel.runs GROUP BY status',
      );
      return Object.fromEntries(rows.map((row) => [row.status, row.count])) as Record<string, number>;
    };
    const submit = async (count: number) => {
      const ids: string[] = [];
      for (let index = 0; index < count; index++) {
        const { status, body } = await api('/v1/runs', {
          method: 'POST',
          body: JSON.stringify({ agent: 'payer', input: `charge ${index}` }),
        });
        expect(status).toBe(202);
        ids.push((body as { id: string }).id);
      }
      return ids;
    };

    const ids = await submit(RUNS);
    await waitFor(
      'runs under way',
      counts,
      (byStatus) => (byStatus.completed ?? 0) >= 3 && (byStatus.running ?? 0) >= 2,
    );

    // Failover: every open connection of every process goes silently dead; new ones work.
    proxy.setMode('failover');
    const failoverAt = Date.now();
    const responses: { endedAt: number; status: number }[] = [];
    let loading = true;
    // Eight clients at once, more than the server's pool can hold when its connections hang.
    const load = Promise.all(
      Array.from({ length: 8 }, async (_, client) => {
        for (let index = client; loading; index += 8) {
          const status = await api(`/v1/runs/${ids[index % ids.length]}`).then(
            ({ status }) => status,
            () => 0,
          );
          responses.push({ endedAt: Date.now(), status });
          await sleep(50);
        }
      }),
    );
    const finished = await waitFor(
      'every run ended',
      counts,
      (byStatus) => (byStatus.completed ?? 0) + (byStatus.failed ?? 0) + (byStatus.cancelled ?? 0) === RUNS,
    );
    const allEndedMs = Date.now() - failoverAt;
    // The API answers again within the bound (and keeps answering).
    await waitFor(
      'API answers',
      () => responses.at(-1)?.status,
      (status) => status === 200,
    );
    loading = false;
    await load;
    const lastFailure = responses.filter((response) => response.status !== 200).at(-1);
    const apiRecoveredMs = lastFailure === undefined ? 0 : lastFailure.endedAt - failoverAt;

    expect(finished).toEqual({ completed: RUNS });
    expect(allEndedMs).toBeLessThanOrEqual(BOUND_MS);
    expect(apiRecoveredMs).toBeLessThanOrEqual(BOUND_MS);
    // Blackhole: nothing answers, new connections included. The server is wedged: /healthz fails.
    proxy.setMode('blackhole');
    const wedged = await waitFor('healthz failing', healthz, (status) => status === 503, 30_000);
    expect(wedged).toBe(503);
    const report = (await (await fetch(new URL('/healthz', baseUrl))).json()) as Record<string, unknown>;
    expect(report).toMatchObject({ ok: false, reason: 'database_silent', max_silence_ms: 3_000 });
    proxy.setMode('pass');
    await waitFor('healthz passing', healthz, (status) => status === 200, BOUND_MS);
    await waitFor(
      'API answers',
      async () => (await api('/v1/runs?limit=1')).status,
      (status) => status === 200,
      BOUND_MS,
    );
    expect(server.lines.filter((line) => line.msg.startsWith('healthz failing'))).toHaveLength(1);

    // Workers went on by themselves: new runs complete.
    await submit(4);
    const after = await waitFor(
      'new runs ended',
      counts,
      (byStatus) => (byStatus.completed ?? 0) === RUNS + 4,
      BOUND_MS,
    );
    expect(after).toEqual({ completed: RUNS + 4 });

    // Effects once: one charge per run, never two.
    const charges = await direct.query<{ total: number; distinct: number }>(
      'SELECT count(*)::int AS total, count(DISTINCT step_key)::int AS distinct FROM failover.charges',
    );
    expect(charges.rows[0]).toEqual({ total: RUNS + 4, distinct: RUNS + 4 });
    const ledgerRows = await direct.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM failover.effects',
    );
    expect(ledgerRows.rows[0]?.count).toBe(RUNS + 4);

    // Whether a worker had to stop its runs depends on where its statements were at the failover.
    const stoppedRuns = workers.flatMap((worker) =>
      worker.lines.filter((line) => line.msg.startsWith('leases not renewed in time')),
    ).length;
    console.info(
      `failover: every run ended ${allEndedMs} ms after it, API answered 200 for good ${apiRecoveredMs} ms after it (bound ${BOUND_MS} ms; ${responses.filter((response) => response.status !== 200).length} of ${responses.length} API answers were not 200); workers that stopped runs: ${stoppedRuns}`,
    );
  }, 180_000);
});
