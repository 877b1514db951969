import { openGovernance, type Governance } from '../../governance/open-governance.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../config/load-config.js';
import { ConfigError } from '../../errors/config-errors.js';
import { createGatewayService } from '../../gateway/http/gateway-service.js';
import { createKeelMetrics } from '../../metrics/keel-metrics.js';
import { createMetricsListener } from '../../server/metrics-routes.js';
import { logRequest } from '../../server/request-edges.js';
import { readOtelConfig } from '../../telemetry/otel-config.js';
import { createOtelExport } from '../../telemetry/otel-export.js';
import { otelDroppedSpans } from '../../telemetry/span-export-queue.js';
import { createJsonLogger } from '../../util/logger.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { checkLogLevelEnv, listenHostOf, listenPortOf, metricsPublicEnv } from '../parse-options.js';
import { UsageError } from '../usage-error.js';

/** How long in-flight calls (long streams included) may take to finish after SIGTERM. */
const DRAIN_MS = 30_000;

/**
 * `keel gateway`: only the LLM gateway's endpoints (OpenAI chat completions, responses, embeddings and
 * models; Anthropic messages), configured by the config file's `gateway` section, with limits,
 * cache, call records and API keys in the shared database. On SIGTERM it stops accepting
 * connections, lets in-flight calls finish (up to 30 s), then writes the buffered call records.
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
  const loaded = await loadConfig({ path: config, cwd: io.cwd, env: io.env });
  const { gateway: gatewayConfig, path } = loaded;
  if (gatewayConfig === undefined)
    throw new ConfigError('config_invalid', `${path} has no "gateway" section: nothing to serve.`, { path });
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
      config: loaded,
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
  metrics.watchBreakers(() => gatewayService.gateway.breakers());
  // `/metrics` on the same port, with the API's scrape rules (a `metrics` key, or public).
  const serveMetrics = createMetricsListener({ metrics, apiKeys: service.apiKeys, public: metricsPublic });
  // The gateway's routes alone in a route table (the same wire routes `keel serve` mounts).
  const { handler } = service;
  const server = createServer((request, response) => {
    const arrivedAt = performance.now();
    if (handler(request, response) || serveMetrics(request, response)) {
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
  const routes = service.gateway.routes();
  logger.info('keel gateway serving', {
    url,
    routes,
    config: path,
    store: backend.description,
    limits: service.hotStore.kind,
  });
  if (json) io.stdout.write(JSON.stringify({ event: 'serving', url: `${url}/v1`, routes }) + '\n');
  else
    io.stderr.write(
      `Keel gateway at ${url}/v1 serving ${routes.join(', ')}\n  keys: npx keel keys create --tenant <tenant> --scopes gateway\n`,
    );

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
