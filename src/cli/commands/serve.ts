import type { AddressInfo } from 'node:net';
import { assertAgentModels } from '../../config/check-models.js';
import { loadConfig } from '../../config/load-config.js';
import { createApiKeys } from '../../gateway/api-keys.js';
import { createSqlRateLimiter } from '../../gateway/sql-rate-limiter.js';
import { createWorker, type Worker } from '../../runtime/worker.js';
import { openGovernance, type Governance } from '../../governance/open-governance.js';
import { readOtelConfig } from '../../telemetry/otel-config.js';
import { createOtelExport } from '../../telemetry/otel-export.js';
import { otelDroppedSpans } from '../../telemetry/span-export-queue.js';
import { combineTelemetry } from '../../telemetry/run-telemetry.js';
import { createServer } from '../../server/create-server.js';
import { createGatewayStatus } from '../../server/gateway-routes.js';
import { BUILT_CONSOLE_DIRECTORY, createConsoleAssets } from '../../server/console-assets.js';
import { createConsoleLogin, type ConsoleLogin } from '../../server/console-login.js';
import { createAnalytics } from '../../analytics/analytics-store.js';
import { createRunFeedback } from '../../feedback/feedback.js';
import { createRunOutcomes } from '../../feedback/outcomes.js';
import { createHealthCheck } from '../../server/health.js';
import { createReadinessCheck } from '../../server/readiness.js';
import { createKeelMetrics } from '../../metrics/keel-metrics.js';
import { createJsonLogger } from '../../util/logger.js';
import { ensureLocalAdminKey, newAdminKeyNotice } from '../admin-key.js';
import { gatewayConfigOf, openConfiguredGateway } from '../agent-gateway.js';
import { describeEnvRoutes } from '../../gateway/env-gateway-config.js';
import { keelDirectory, openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { advertiseServer } from '../embedded-lock.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../usage-error.js';
import {
  checkLogLevelEnv,
  corsOriginsEnv,
  listenHostOf,
  metricsPublicEnv,
  listenPortOf,
  positiveInteger,
  positiveIntegerEnv,
} from '../parse-options.js';

/** `keel serve`: the HTTP API plus (by default) workers in the same process. */
export async function serveCommand(
  {
    port,
    host,
    workers,
    noWorker,
    config,
    json = false,
  }: {
    port?: string;
    host?: string;
    workers?: string;
    noWorker: boolean;
    config?: string;
    /** Start-up and stop as JSON lines on stdout instead of the banner on stderr. */
    json?: boolean;
  },
  io: CliIo,
): Promise<number> {
  // Every flag and setting is checked before anything is loaded or opened: a bad one exits 2 at once.
  checkLogLevelEnv(io.env);
  const listenPort = listenPortOf(port, io.env, 4000);
  const listenHost = listenHostOf(host);
  const workerConcurrency = positiveInteger('workers', workers, 4);
  if (noWorker && workers !== undefined)
    throw new UsageError('--workers and --no-worker contradict each other');
  const maxBodyBytes = positiveIntegerEnv(io.env, 'KEEL_MAX_BODY_BYTES');
  const requestTimeoutMs = positiveIntegerEnv(io.env, 'KEEL_REQUEST_TIMEOUT_MS');
  const maxSilenceMs = positiveIntegerEnv(io.env, 'KEEL_HEALTHZ_MAX_DB_SILENCE_MS');
  const maxStreamsPerKey = positiveIntegerEnv(io.env, 'KEEL_MAX_STREAMS_PER_KEY');
  const cors = corsOriginsEnv(io.env);
  const metricsPublic = metricsPublicEnv(io.env);
  readOtelConfig(io.env);
  const logger = createJsonLogger();
  const loaded = await loadConfig({ path: config, cwd: io.cwd, env: io.env });
  const { agents, path, redactByTenant } = loaded;
  // The config's `gateway` section, else routes from the provider keys in the environment.
  const resolvedGateway = gatewayConfigOf({ section: loaded.gateway, env: io.env });
  const gatewayConfig = resolvedGateway?.config;
  // Fail at load, not at run: every agent's model resolves, has its key and, under a dollar cap, a price.
  const modelStatuses = assertAgentModels(
    { ...loaded, ...(gatewayConfig === undefined ? {} : { gateway: gatewayConfig }) },
    { env: io.env },
  );
  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
  if (backend.mode !== 'direct') throw new UsageError('keel serve needs direct database access');
  // One registry for the process: the server's scrape, the worker's runs and the gateway's calls.
  const metrics = createKeelMetrics({ client: backend.client, logger, droppedSpans: otelDroppedSpans });
  // Budgets, controls (kill switches, pauses, breakers, tool policy) and the prompt registry.
  let governance: Governance;
  try {
    governance = await openGovernance({
      client: backend.client,
      config: loaded,
      env: io.env,
      logger,
      metrics,
    });
  } catch (error) {
    await backend.close();
    throw error;
  }
  // OpenTelemetry export: spans from the journal, live spans of gateway calls (off unless an
  // OTLP endpoint is set).
  const otel = createOtelExport({ env: io.env, client: backend.client, logger });
  let configured: ReturnType<typeof openConfiguredGateway>;
  try {
    configured = openConfiguredGateway({
      config: gatewayConfig,
      client: backend.client,
      env: io.env,
      logger,
      metrics,
      governance: governance.gateway,
      ...(otel === undefined ? {} : { tracer: otel.gatewayTracer }),
    });
  } catch (error) {
    await governance.close();
    await backend.close();
    throw error;
  }
  const gateway = configured.service;
  // With REDIS_URL, the gateway's limits and shared cache are on Redis: wait for it (bounded).
  await gateway?.ready();
  const apiKeys = createApiKeys({ client: backend.client, logger });
  // The embedded database is this machine's: it gets an admin key the local CLI reads from its
  // folder. A shared Postgres gets its keys from `keel keys create` only.
  let newAdminKey: string | undefined;
  if (!io.env.DATABASE_URL) {
    try {
      const local = await ensureLocalAdminKey({
        keelDir: keelDirectory({ env: io.env, cwd: io.cwd }),
        apiKeys,
      });
      if (local.created) newAdminKey = local.key;
    } catch (error) {
      await configured.close();
      await governance.close();
      await backend.close();
      throw error;
    }
  }
  // The console at `/`; on the embedded default, a one-time sign-in link for it (printed below).
  const consoleEnabled = io.env.KEEL_CONSOLE !== 'false';
  const consoleAssets = consoleEnabled
    ? createConsoleAssets({ directory: BUILT_CONSOLE_DIRECTORY })
    : undefined;
  const consoleLogin: ConsoleLogin | undefined =
    consoleEnabled && !io.env.DATABASE_URL ? createConsoleLogin({ apiKeys }) : undefined;
  // One set of observers for the runs this process ends: in its worker, and by a cancel request.
  const telemetry = combineTelemetry(metrics.telemetry, otel?.telemetry);
  const server = createServer({
    store: backend.store,
    budgets: governance.budgets,
    controls: governance.controls,
    prompts: governance.prompts,
    client: backend.client,
    agents,
    logger,
    apiKeys,
    outcomes: createRunOutcomes({ client: backend.client }),
    feedback: createRunFeedback({ client: backend.client }),
    analytics: createAnalytics({ client: backend.client }),
    readiness: createReadinessCheck({ client: backend.client, models: modelStatuses }),
    health: createHealthCheck({
      client: backend.client,
      logger,
      ...(maxSilenceMs === undefined ? {} : { maxSilenceMs }),
    }),
    limiter: createSqlRateLimiter({ client: backend.client }),
    metrics,
    metricsPublic,
    telemetry,
    ...(redactByTenant === undefined ? {} : { redactByTenant }),
    ...(cors === undefined ? {} : { cors }),
    ...(consoleAssets === undefined ? {} : { consoleAssets }),
    ...(consoleLogin === undefined ? {} : { consoleLogin }),
    ...(gateway === undefined || gatewayConfig === undefined
      ? {}
      : {
          gatewayHandler: gateway.handler,
          gatewayStatus: createGatewayStatus(gatewayConfig, gateway.gateway),
        }),
    spendBreakers: governance.breakers,
    ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }),
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(maxStreamsPerKey === undefined ? {} : { maxStreamsPerKey }),
  });
  // Node's own limits on receiving a request (slow-loris): headers within 20 s, the whole request
  // (headers and body) within 60 s. Handling time is bounded by `requestTimeoutMs` (30 s);
  // responses (event streams, gateway streams) are not limited by these.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, listenHost, () => resolve());
    });
  } catch (error) {
    // Port taken, address not local: close what was opened, so the process exits at once.
    await configured.close();
    await governance.close();
    await backend.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  if (!io.env.DATABASE_URL) advertiseServer(keelDirectory({ env: io.env, cwd: io.cwd }), url);

  let worker: Worker | undefined;
  if (!noWorker) {
    worker = createWorker({
      store: backend.store,
      agents: [...agents.values()],
      concurrency: workerConcurrency,
      // Streamed model text reaches every replica's event stream through the journal.
      journalTextDeltas: true,
      logger,
      telemetry,
      // Runs run the prompt version they recorded when created, under the controls and budgets.
      policies: governance.policies,
      ...(redactByTenant === undefined ? {} : { redactByTenant }),
    });
    worker.start();
  } else if (!io.env.DATABASE_URL) {
    // The embedded database is this process's alone: no `keel worker` can reach it.
    logger.warn(
      'no worker: runs submitted here will not execute (the embedded database has no other process)',
    );
  }
  logger.info('keel serving', {
    url,
    agents: [...agents.keys()],
    config: path,
    store: backend.description,
    worker: worker?.owner ?? null,
    gateway: gateway?.gateway.routes() ?? null,
  });
  // A wildcard listen address is reached on loopback from this machine.
  const browseUrl = url.replace(/\/\/(0\.0\.0\.0|\[::\])(?=:)/, '//127.0.0.1');
  if (json) {
    const login = consoleAssets?.available === true ? consoleLogin?.issue() : undefined;
    io.stdout.write(
      JSON.stringify({
        event: 'serving',
        url,
        agents: [...agents.keys()],
        worker: worker?.owner ?? null,
        admin_key: newAdminKey ?? null,
        console:
          consoleAssets === undefined || !consoleAssets.available
            ? null
            : `${browseUrl}/${login === undefined ? '' : `#login=${login.token}`}`,
      }) + '\n',
    );
  } else if (newAdminKey !== undefined)
    io.stderr.write(newAdminKeyNotice(keelDirectory({ env: io.env, cwd: io.cwd }), newAdminKey));
  if (!json)
    io.stderr.write(
      `Keel is serving ${[...agents.keys()].join(', ')} at ${url}\n  try: npx keel run ${[...agents.keys()][0] ?? '<agent>'} "…"\n`,
    );
  if (!json && resolvedGateway?.providers !== undefined)
    io.stderr.write(
      `  gateway at ${url}/v1, from the environment's keys:\n${describeEnvRoutes(resolvedGateway.providers)
        .map((line) => `    ${line}\n`)
        .join('')}`,
    );
  if (consoleAssets !== undefined && !json) {
    if (!consoleAssets.available)
      io.stderr.write(`  console: not built (run \`npm run build\` to serve it at ${browseUrl}/)\n`);
    else if (consoleLogin !== undefined)
      io.stderr.write(
        `  console: ${browseUrl}/#login=${consoleLogin.issue().token}\n  (a one-time sign-in link, valid for 15 minutes; or sign in at ${browseUrl}/ with an API key)\n`,
      );
    else io.stderr.write(`  console: ${browseUrl}/ (sign in with an API key)\n`);
  }

  await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }));
  logger.info('draining');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await worker?.stop();
  await closed;
  await otel?.shutdown();
  await configured.close();
  await governance.close();
  await backend.close();
  if (json) io.stdout.write(JSON.stringify({ event: 'stopped' }) + '\n');
  return EXIT.ok;
}
