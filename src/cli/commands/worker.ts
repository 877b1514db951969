import { loadConfig } from '../../config/load-config.js';
import { createWorker } from '../../runtime/worker.js';
import { createOtelExport } from '../../telemetry/otel-export.js';
import { readOtelConfig } from '../../telemetry/otel-config.js';
import { createJsonLogger } from '../../util/logger.js';
import { openConfiguredGateway } from '../agent-gateway.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { checkLogLevelEnv, positiveInteger } from '../parse-options.js';
import { UsageError } from '../usage-error.js';

/** `keel worker`: claims and executes runs until SIGTERM/SIGINT, then drains. */
export async function workerCommand(
  { concurrency, config, leaseMs }: { concurrency?: string; config?: string; leaseMs?: string },
  io: CliIo,
): Promise<number> {
  // Every flag and setting is checked before anything is loaded or opened: a bad one exits 2 at once.
  checkLogLevelEnv(io.env);
  const workerConcurrency = positiveInteger('concurrency', concurrency, 4);
  const workerLeaseMs = positiveInteger('lease-ms', leaseMs, 5_000);
  readOtelConfig(io.env);
  const logger = createJsonLogger();
  const { agents, path, gateway } = await loadConfig({ path: config, cwd: io.cwd, env: io.env });
  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
  if (backend.mode !== 'direct') throw new UsageError('keel worker needs direct database access');
  // Spans from the journal (OpenTelemetry export; off unless an OTLP endpoint is set).
  const otel = createOtelExport({ env: io.env, client: backend.client, logger });
  let configured: ReturnType<typeof openConfiguredGateway>;
  try {
    configured = openConfiguredGateway({ config: gateway, client: backend.client, env: io.env, logger });
  } catch (error) {
    await backend.close();
    throw error;
  }
  const worker = createWorker({
    ...(otel === undefined ? {} : { telemetry: otel.telemetry }),
    store: backend.store,
    agents: [...agents.values()],
    concurrency: workerConcurrency,
    leaseMs: workerLeaseMs,
    // Streamed model text reaches every replica's event stream through the journal.
    journalTextDeltas: true,
    logger,
  });
  worker.start();
  logger.info('worker started', {
    owner: worker.owner,
    agents: [...agents.keys()],
    config: path,
    store: backend.description,
  });
  await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }));
  logger.info('worker draining');
  await worker.stop();
  await otel?.shutdown();
  await configured.close();
  await backend.close();
  logger.info('worker stopped');
  return EXIT.ok;
}
