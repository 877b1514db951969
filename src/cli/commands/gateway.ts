import { openGovernance, type Governance } from '../../governance/open-governance.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, type LoadedConfig } from '../../config/load-config.js';
import { describeEnvRoutes, NoProviderKeysError } from '../../gateway/env-gateway-config.js';
import { createKeyApiListener } from '../../server/key-api-listener.js';
import { adminKeyPath, ensureLocalAdminKey, newAdminKeyNotice } from '../admin-key.js';
import { gatewayConfigOf } from '../agent-gateway.js';
import { advertiseServer } from '../embedded-lock.js';
import { ConfigError } from '../../errors/config-errors.js';
import { createGatewayService } from '../../gateway/http/gateway-service.js';
import { createKeelMetrics } from '../../metrics/keel-metrics.js';
import { createMetricsListener } from '../../server/metrics-routes.js';
import { logRequest } from '../../server/request-edges.js';
import { readOtelConfig } from '../../telemetry/otel-config.js';
import { createOtelExport } from '../../telemetry/otel-export.js';
import { otelDroppedSpans } from '../../telemetry/span-export-queue.js';
import { createJsonLogger } from '../../util/logger.js';
import { keelDirectory, openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { checkLogLevelEnv, listenHostOf, listenPortOf, metricsPublicEnv } from '../parse-options.js';
import { UsageError } from '../usage-error.js';

/** How long in-flight calls (long streams included) may take to finish after SIGTERM. */
const DRAIN_MS = 30_000;

/**
 * `keel gateway`: only the LLM gateway's endpoints (OpenAI chat completions, responses, embeddings and
 * models; Anthropic messages), configured by the config file's `gateway` section or, without one
 * (or without a config file), by the provider keys in the environment (env-gateway-config.ts),
 * with limits, cache, call records and API keys in the shared database. On the embedded database
 * it also creates the local admin key and answers `/v1/keys`, so `keel keys` works through it.
 * On SIGTERM it stops accepting connections, lets in-flight calls finish (up to 30 s), then writes
 * the buffered call records.
 */
export async function gatewayCommand(
  {
    port,
    host,
    config,
    json = false,
  }: {
    port?: string;
    host?: string;
    config?: string;
    /** Start-up and stop as JSON lines on stdout instead of the banner on stderr. */
    json?: boolean;
  },
  io: CliIo,
): Promise<number> {
  checkLogLevelEnv(io.env);
  const listenPort = listenPortOf(port, io.env, 4000);
  const listenHost = listenHostOf(host);
  const metricsPublic = metricsPublicEnv(io.env);
  readOtelConfig(io.env);
  const logger = createJsonLogger();
  const loaded = await loadGatewayConfigFile({ config, io });
  // The config's `gateway` section, else routes from the provider keys in the environment.
  const resolved = gatewayConfigOf({ section: loaded?.gateway, env: io.env });
  if (resolved === undefined) throw new NoProviderKeysError();
  const { config: gatewayConfig, providers } = resolved;
  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
  if (backend.mode !== 'direct') throw new UsageError('keel gateway needs direct database access');
  const metrics = createKeelMetrics({ client: backend.client, logger, droppedSpans: otelDroppedSpans });
  // Live `chat {model}` spans of the calls (OpenTelemetry export; off unless an OTLP endpoint is set).
  const otel = createOtelExport({ env: io.env, client: backend.client, logger });
  let service;
  // Budgets every call reserves against; disabled deployments and spend breakers (controls).
  let governance: Governance | undefined;
  try {
    governance = await openGovernance({
      client: backend.client,
      config: loaded ?? {},
      env: io.env,
      logger,
      metrics,
    });
    service = createGatewayService({
      config: gatewayConfig,
      client: backend.client,
      ...governance.gateway,
      env: io.env,
      logger,
      onCall: (call) => metrics.gatewayCall(call),
      onRedisFailure: (failure) => metrics.redisFailure(failure),
      ...(otel === undefined ? {} : { tracer: otel.gatewayTracer }),
    });
  } catch (error) {
    await governance?.close();
    await backend.close();
    throw error;
  }
  // With REDIS_URL, limits and the shared cache are on Redis: wait for it (bounded), say so.
  await service.ready();
  const gatewayService = service;
  const { close: closeGovernance } = governance;
  // The embedded database is this process's alone: like `keel serve`, it gets a local admin key
  // (printed once), and `/v1/keys` answers so `keel keys` works through this process.
  const embedded = !io.env.DATABASE_URL;
  const keelDir = keelDirectory({ env: io.env, cwd: io.cwd });
  let newAdminKey: string | undefined;
  if (embedded) {
    try {
      const local = await ensureLocalAdminKey({ keelDir, apiKeys: service.apiKeys });
      if (local.created) newAdminKey = local.key;
    } catch (error) {
      await service.close();
      await closeGovernance();
      await backend.close();
      throw error;
    }
  }
  const serveKeys = embedded
    ? createKeyApiListener({
        store: backend.store,
        client: backend.client,
        apiKeys: service.apiKeys,
        logger,
        metrics,
      })
    : () => false;
  metrics.watchBreakers(() => gatewayService.gateway.breakers());
  // `/metrics` on the same port, with the API's scrape rules (a `metrics` key, or public).
  const serveMetrics = createMetricsListener({ metrics, apiKeys: service.apiKeys, public: metricsPublic });
  // The gateway's routes alone in a route table (the same wire routes `keel serve` mounts).
  const { handler } = service;
  const server = createServer((request, response) => {
    const arrivedAt = performance.now();
    if (handler(request, response) || serveMetrics(request, response) || serveKeys(request, response)) {
      logRequest({ logger, request, response, startedAt: arrivedAt });
      return;
    }
    const body = JSON.stringify({
      error: {
        message: `No route for ${request.method ?? 'GET'} ${request.url ?? '/'}.`,
        type: 'invalid_request_error',
        param: null,
        code: 'not_found',
      },
    });
    response.writeHead(request.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });
    response.end(request.url === '/healthz' ? '{"ok":true}' : body);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, listenHost, () => resolve());
    });
  } catch (error) {
    await service.close();
    await closeGovernance();
    await backend.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  if (embedded) advertiseServer(keelDir, url);
  const routes = service.gateway.routes();
  logger.info('keel gateway serving', {
    url,
    routes,
    config: loaded?.path ?? null,
    store: backend.description,
    limits: service.hotStore.kind,
    ...(providers === undefined ? {} : { providers }),
  });
  if (json)
    io.stdout.write(
      JSON.stringify({
        event: 'serving',
        url: `${url}/v1`,
        routes,
        providers:
          providers?.map(({ provider, route, keyVariable, baseURL }) => ({
            provider,
            route,
            key_variable: keyVariable ?? null,
            base_url: baseURL,
          })) ?? null,
        admin_key: newAdminKey ?? null,
      }) + '\n',
    );
  else {
    if (newAdminKey !== undefined) io.stderr.write(newAdminKeyNotice(keelDir, newAdminKey));
    io.stderr.write(
      providers === undefined
        ? `Keel gateway at ${url}/v1 serving ${routes.join(', ')}\n`
        : `Keel gateway at ${url}/v1, routes from the environment's keys (no "gateway" section):\n${describeEnvRoutes(
            providers,
          )
            .map((line) => `  ${line}\n`)
            .join('')}`,
    );
    io.stderr.write(
      embedded
        ? `  key: the local admin key above (kept in ${adminKeyPath(keelDir)}); more: npx keel keys create --tenant <tenant> --scopes gateway\n`
        : `  keys: npx keel keys create --tenant <tenant> --scopes gateway\n`,
    );
  }

  await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }));
  logger.info('draining');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const deadline = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
  deadline.unref();
  await closed;
  clearTimeout(deadline);
  await otel?.shutdown();
  await service.close();
  await closeGovernance();
  await backend.close();
  if (json) io.stdout.write(JSON.stringify({ event: 'stopped' }) + '\n');
  return EXIT.ok;
}

/**
 * The config file, or undefined when there is none to find: the gateway runs without one (from
 * the environment's keys). A file named by --config or KEEL_CONFIG must exist.
 */
async function loadGatewayConfigFile({
  config,
  io,
}: {
  config: string | undefined;
  io: CliIo;
}): Promise<LoadedConfig | undefined> {
  try {
    return await loadConfig({ path: config, cwd: io.cwd, env: io.env });
  } catch (error) {
    const named = config !== undefined || Boolean(io.env.KEEL_CONFIG);
    if (!named && error instanceof ConfigError && error.code === 'config_not_found') return undefined;
    throw error;
  }
}
