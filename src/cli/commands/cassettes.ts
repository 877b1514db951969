import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseCassette, type Cassette } from '../../cassettes/cassette.js';
import { readCassette, writeCassetteRun } from '../../cassettes/cassette-store.js';
import {
  replayCassette,
  type Divergence,
  type ReplayResult,
  type ReplayStepView,
} from '../../cassettes/replay-cassette.js';
import { loadConfig } from '../../config/load-config.js';
import { RunNotFoundError } from '../../errors/storage-errors.js';
import { createJsonLogger } from '../../util/logger.js';
import { openConfiguredGateway } from '../agent-gateway.js';
import { openBackend, type Backend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderOutput } from '../render.js';
import { UsageError } from '../usage-error.js';

/**
 * `keel export <run-id> [-o file]`: an ended run as a cassette, on stdout or in a file (the
 * cassette is JSON either way; with `-o` and `--json` what was written is said as JSON).
 */
export async function exportCommand(
  { runId, output, json = false }: { runId?: string; output?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  if (!runId) throw new UsageError('Usage: keel export <run-id> [-o file] [--json]');
  const cassette = await fetchCassette(io, runId);
  const text = JSON.stringify(cassette, null, 2) + '\n';
  if (output === undefined) io.stdout.write(text);
  else {
    writeFileSync(resolve(io.cwd, output), text);
    if (json)
      io.stdout.write(
        JSON.stringify({ run_id: runId, steps: cassette.steps.length, file: resolve(io.cwd, output) }) + '\n',
      );
    else io.stderr.write(`Wrote run ${runId} (${cassette.steps.length} steps) to ${output}\n`);
  }
  return EXIT.ok;
}

/** `keel import <file>`: stores a cassette's run as an ended run under a new id (`trigger: import`). */
export async function importCommand(
  { file, json }: { file?: string; json: boolean },
  io: CliIo,
): Promise<number> {
  if (!file) throw new UsageError('Usage: keel import <file> [--json]');
  const cassette = parseCassette(readCassetteFile(io, file));
  // Imports write the journal: they need the database itself, not a server's API.
  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
  try {
    if (backend.mode !== 'direct') throw new UsageError('keel import needs the database itself.');
    const run = await writeCassetteRun({
      store: backend.store,
      cassette,
      mode: 'ended',
      ...(cassette.tenant_id === undefined ? {} : { tenantId: cassette.tenant_id }),
    });
    io.stdout.write(json ? JSON.stringify({ id: run.id, status: run.status }) + '\n' : `${run.id}\n`);
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

/**
 * `keel replay <cassette|run-id> [--config F] [--live-after-divergence] [--json]`: re-executes the
 * cassette's agent, from the loaded config, offline against the cassette. Exit 0 when it
 * reproduces the run, 1 (with the first divergence) when it does not. With
 * `--live-after-divergence` a diverged replay runs on from the divergence with the real model
 * (the config's gateway included) and tools, and prints the live output; it still exits 1,
 * because the code did not reproduce the run: the live part shows what it does instead.
 */
export async function replayCommand(
  {
    source,
    config,
    json,
    liveAfterDivergence = false,
  }: { source?: string; config?: string; json: boolean; liveAfterDivergence?: boolean },
  io: CliIo,
): Promise<number> {
  if (!source)
    throw new UsageError(
      'Usage: keel replay <cassette|run-id> [--config F] [--live-after-divergence] [--json]',
    );
  // A bad cassette file is refused before the config is loaded (which takes a while).
  const fromFile = existsSync(resolve(io.cwd, source))
    ? parseCassette(readCassetteFile(io, source))
    : undefined;
  const loaded = await loadConfig({ path: config, cwd: io.cwd, env: io.env });
  const cassette = fromFile ?? (await fetchCassette(io, source));
  const logger = createJsonLogger({ level: (io.env.KEEL_LOG_LEVEL as 'info' | undefined) ?? 'warn' });
  const result = await replayCassette({
    cassette,
    agents: [...loaded.agents.values()],
    ...(liveAfterDivergence
      ? {
          live: {
            // The live part's journal is the replay's in-memory one: the gateway's call records
            // go there too, and the project's database is not touched.
            open: (client) => openConfiguredGateway({ config: loaded.gateway, client, env: io.env, logger }),
          },
        }
      : {}),
  });
  if (json) {
    io.stdout.write(
      JSON.stringify({
        output: result.output,
        stop_reason: result.stop_reason,
        prompt_version: result.prompt_version,
        diverged: result.diverged,
        replayed_steps: result.replayed_steps,
        ...(result.divergence ? { divergence: result.divergence } : {}),
        ...(result.live_after_divergence
          ? { live_after_divergence: true, live_steps: result.live_steps }
          : {}),
        ...(result.error ? { error: result.error } : {}),
      }) + '\n',
    );
  } else if (result.divergence) {
    io.stdout.write(renderDivergence(result.divergence));
    const { recorded, replayed } = result.prompt_version;
    if (recorded !== replayed)
      io.stdout.write(`Prompt version: recorded ${recorded ?? '(none)'}, now ${replayed}.\n`);
    if (result.live_after_divergence) renderLive(result, io);
  } else {
    io.stdout.write(renderOutput(result.output));
    io.stderr.write(`Replayed ${result.replayed_steps} steps from the cassette: no divergence.\n`);
  }
  return result.diverged ? EXIT.replayDiverged : EXIT.ok;
}

/** The live continuation after the divergence report: what ran live, then its output. */
function renderLive(result: ReplayResult, io: CliIo): void {
  const { seq, reason } = result.divergence!;
  if (reason === 'missing_step' || reason === 'output') {
    io.stdout.write('Nothing to continue live: the run ended on recorded steps alone.\n');
    return;
  }
  io.stdout.write(
    `Continued live from step ${seq}: ${steps(result.replayed_steps)} from the cassette, ` +
      `${steps(result.live_steps ?? 0)} live; stop reason ${result.stop_reason}.\n\n`,
  );
  io.stdout.write(renderOutput(result.output));
  if (result.error) io.stderr.write(`The live part failed: ${result.error.message} [${result.error.code}]\n`);
}

const steps = (count: number) => `${count} step${count === 1 ? '' : 's'}`;

function readCassetteFile(io: CliIo, file: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read ${file}: ${(error as Error).message}`);
  }
}

/** A run's cassette: from the store, or from the local server's endpoint (payload scopes apply). */
async function fetchCassette(io: CliIo, runId: string): Promise<Cassette> {
  const backend: Backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    if (backend.mode === 'direct') return await readCassette({ store: backend.store, runId });
    const body = await backend.api.call<unknown>(`/v1/runs/${encodeURIComponent(runId)}/cassette`);
    if (body === undefined) throw new RunNotFoundError(runId);
    return parseCassette(JSON.stringify(body));
  } finally {
    await backend.close();
  }
}

/** The first divergence as a readable diff: `-` what the cassette recorded, `+` what the code did. */
export function renderDivergence(divergence: Divergence): string {
  const lines = [`Replay diverged at step ${divergence.seq} (${REASONS[divergence.reason]}):`];
  const side = (sign: '-' | '+', label: string, value: Divergence['expected']) => {
    if (value === null) return [`${sign} ${label}: (no step)`];
    if ('output' in value)
      return [
        `${sign} ${label} stop_reason: ${value.stop_reason}`,
        `${sign} ${label} output: ${JSON.stringify(value.output)}`,
      ];
    return describeStep(sign, label, value);
  };
  lines.push(...side('-', 'recorded', divergence.expected), ...side('+', 'replayed', divergence.actual));
  return lines.join('\n') + '\n';
}

function describeStep(sign: string, label: string, step: ReplayStepView): string[] {
  const lines = [`${sign} ${label}: #${step.seq} ${step.kind} "${step.name}"`];
  if (step.input_hash !== undefined) lines.push(`${sign}   input_hash ${step.input_hash}`);
  if (step.arguments !== undefined) lines.push(`${sign}   arguments  ${JSON.stringify(step.arguments)}`);
  return lines;
}

const REASONS: Record<Divergence['reason'], string> = {
  step: 'the code asked for another step than the recorded one',
  extra_step: 'the code asked for a step the cassette does not have',
  missing_step: 'the run ended before a recorded step',
  output: "every step matched but the run's output differs",
};
