import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertAgentModels } from '../../config/check-models.js';
import { loadConfig } from '../../config/load-config.js';
import { createApiKeys } from '../../gateway/api-keys.js';
import { createKeelMetrics } from '../../metrics/keel-metrics.js';
import { createWorker } from '../../runtime/worker.js';
import { openGovernance, type Governance } from '../../governance/open-governance.js';
import { createMetricsListener, metricsOnlyHandler } from '../../server/metrics-routes.js';
import { createOtelExport } from '../../telemetry/otel-export.js';
import { otelDroppedSpans } from '../../telemetry/span-export-queue.js';
import { combineTelemetry } from '../../telemetry/run-telemetry.js';
import { readOtelConfig } from '../../telemetry/otel-config.js';
import { createJsonLogger } from '../../util/logger.js';
import { openConfiguredGateway } from '../agent-gateway.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { checkLogLevelEnv, listenHostOf, metricsPublicEnv, positiveInteger } from '../parse-options.js';
import { UsageError } from '../usage-error.js';

/**
 * `keel worker`: claims and executes runs until SIGTERM/SIGINT, then drains. With
 * `--metrics-port` it serves its own Prometheus metrics at `/metrics` on that port (same auth
 * as `keel serve`: a `metrics` key, or `KEEL_METRICS_PUBLIC=true`).
 */
export async function workerCommand(
  {
    concurrency,
    config,
    leaseMs,
    metricsPort,
    metricsHost,
    json = false,
  }: {
    concurrency?: string;
    config?: string;
    leaseMs?: string;
    metricsPort?: string;
    metricsHost?: string;
    /** Start-up and stop as JSON lines on stdout instead of the metrics line on stderr. */
    json?: boolean;
  },
  io: CliIo,
): Promise<number> {
  // Every flag and setting is checked before anything is loaded or opened: a bad one exits 2 at once.
  checkLogLevelEnv(io.env);
  const workerConcurrency = positiveInteger('concurrency', concurrency, 4);
  const workerLeaseMs = positiveInteger('lease-ms', leaseMs, 5_000);
  if (metricsHost !== undefined && metricsPort === undefined)
    throw new UsageError('--metrics-host needs --metrics-port');
  const metricsListen =
    metricsPort === undefined
      ? undefined
      : { port: metricsPortOf(metricsPort), host: listenHostOf(metricsHost) };
  const metricsPublic = metricsPublicEnv(io.env);
  readOtelConfig(io.env);
  const logger = createJsonLogger();
  const loaded = await loadConfig({ path: config, cwd: io.cwd, env: io.env });
  // Fail at load, not at run: every agent's model resolves, has its key and, under a dollar cap, a price.
  assertAgentModels(loaded, { env: io.env });
  const { agents, path, gateway } = loaded;
  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
  if (backend.mode !== 'direct') throw new UsageError('keel worker needs direct database access');
  const metrics = createKeelMetrics({ client: backend.client, logger, droppedSpans: otelDroppedSpans });
  // Spans from the journal (OpenTelemetry export; off unless an OTLP endpoint is set).
  const otel = createOtelExport({ env: io.env, client: backend.client, logger });
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
  let configured: ReturnType<typeof openConfiguredGateway>;
  try {
    configured = openConfiguredGateway({
      config: gateway,
      client: backend.client,
      env: io.env,
      logger,
      metrics,
      governance: governance.gateway,
    });
  } catch (error) {
    await governance.close();
    await backend.close();
    throw error;
  }
  let metricsServer: Server | undefined;
  if (metricsListen !== undefined) {
    const listener = createMetricsListener({
      metrics,
      apiKeys: createApiKeys({ client: backend.client, logger }),
      public: metricsPublic,
    });
    const server = createServer(metricsOnlyHandler(listener));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(metricsListen.port, metricsListen.host, () => resolve());
      });
    } catch (error) {
      await configured.close();
      await governance.close();
      await backend.close();
      throw error;
    }
    metricsServer = server;
  }
  const worker = createWorker({
    store: backend.store,
    agents: [...agents.values()],
    concurrency: workerConcurrency,
    leaseMs: workerLeaseMs,
    // Streamed model text reaches every replica's event stream through the journal.
    journalTextDeltas: true,
    logger,
    telemetry: combineTelemetry(metrics.telemetry, otel?.telemetry),
    // Runs run the prompt version they recorded when created, under the controls and budgets.
    policies: governance.policies,
    ...(loaded.redactByTenant === undefined ? {} : { redactByTenant: loaded.redactByTenant }),
  });
  worker.start();
  const address = metricsServer?.address() as AddressInfo | undefined;
  const metricsUrl =
    address === undefined
      ? null
      : `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}/metrics`;
  logger.info('worker started', {
    owner: worker.owner,
    agents: [...agents.keys()],
    config: path,
    store: backend.description,
    metrics: metricsUrl,
  });
  if (json)
    io.stdout.write(
      JSON.stringify({
        event: 'working',
        owner: worker.owner,
        agents: [...agents.keys()],
        metrics_url: metricsUrl,
      }) + '\n',
    );
  else if (metricsUrl !== null) io.stderr.write(`Keel worker metrics at ${metricsUrl}\n`);
  await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }));
  logger.info('worker draining');
  await worker.stop();
  if (metricsServer !== undefined) {
    const closed = new Promise<void>((resolve) => metricsServer.close(() => resolve()));
    metricsServer.closeAllConnections();
    await closed;
  }
  await otel?.shutdown();
  await configured.close();
  await governance.close();
  await backend.close();
  logger.info('worker stopped');
  if (json) io.stdout.write(JSON.stringify({ event: 'stopped' }) + '\n');
  return EXIT.ok;
}

/** `--metrics-port`: 0-65535 (0 picks a free port, logged at start). */
function metricsPortOf(value: string): number {
  const port = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--metrics-port must be 0-65535, not "${value}"`);
  return port;
}
