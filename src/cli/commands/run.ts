import { UnknownAgentError } from '../../errors/config-errors.js';
import { loadConfig, type LoadedConfig } from '../../config/load-config.js';
import { redactValue, runRedactor } from '../../runtime/redaction.js';
import { runAgent } from '../../runtime/run-agent.js';
import { readOtelConfig } from '../../telemetry/otel-config.js';
import { createOtelExport } from '../../telemetry/otel-export.js';
import { runView, type RunView } from '../../server/run-views.js';
import { createJsonLogger } from '../../util/logger.js';
import { openConfiguredGateway } from '../agent-gateway.js';
import { keelDirectory, openBackend, type Backend } from '../backend.js';
import { readEmbeddedOwner } from '../embedded-lock.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderApprovalRequest, renderEvent, renderSummary, terminalSafe } from '../render.js';
import { createLiveRun, type LiveEvent, type LiveRun } from '../live-run.js';
import { followRun } from '../follow-run.js';
import type { RunEvent } from '../../runtime/run-events.js';
import { approvalView } from '../../server/approval-routes.js';
import { UsageError } from '../usage-error.js';
import { checkAttributionFlags } from '../attribution-flags.js';
import { openGovernance, type Governance } from '../../governance/open-governance.js';
import { agentHeldError } from '../../controls/control-errors.js';
import type { Logger } from '../../util/logger.js';
import { resolvePromptVersion } from '../../runtime/resolve-prompt-version.js';

/** The `trigger` of a run `keel run` submits without `--trigger`. */
const CLI_TRIGGER = 'cli';

export interface RunCommandOptions {
  agent?: string;
  input: string;
  detach: boolean;
  json: boolean;
  config?: string;
  session?: string;
  idempotencyKey?: string;
  /** `--user`: the end user the run acts for. */
  user?: string;
  /** `--trigger`: what started the run (default `cli`). */
  trigger?: string;
}

/**
 * `keel run <agent> <input>`: submits a run and, unless `--detach`, executes it in this process
 * (or follows it on the local server that owns the embedded database), showing live progress.
 * A run that suspends on an approval prints it on stderr (tool, arguments) with the commands that
 * decide it; on the embedded database, which this process holds, `keel run` stops there (exit 1).
 */
export async function runCommand(options: RunCommandOptions, io: CliIo): Promise<number> {
  const { agent, input, detach, json } = options;
  if (!agent) throw new UsageError('Usage: keel run <agent> <input> [--detach] [--json]');
  if (input.trim() === '') throw new UsageError('Give the run an input: keel run <agent> "<input>"');
  checkAttributionFlags({ user: options.user, trigger: options.trigger });
  readOtelConfig(io.env);

  // Config errors come first (and cheaply): a local server would only find the same ones later.
  const remote = !io.env.DATABASE_URL && readEmbeddedOwner(keelDirectory({ env: io.env, cwd: io.cwd }))?.url;
  const config = remote ? undefined : await loadConfig({ path: options.config, cwd: io.cwd, env: io.env });
  if (config && !config.agents.has(agent)) throw new UnknownAgentError(agent, [...config.agents.keys()]);
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  // Live text, spinner and step notes on a terminal; nothing live with --json or --detach.
  const live = createLiveRun({ io, json: json || detach });
  try {
    const run =
      backend.mode === 'remote'
        ? await runRemote(backend, options, io, live)
        : await runDirect(
            backend,
            options,
            io,
            live,
            config ?? (await loadConfig({ path: options.config, cwd: io.cwd, env: io.env })),
          );
    if (detach && run.status === 'queued') {
      io.stdout.write(json ? JSON.stringify({ id: run.id, status: run.status }) + '\n' : `${run.id}\n`);
      return EXIT.ok;
    }
    if (json) io.stdout.write(JSON.stringify(run) + '\n');
    else {
      live.finish(run.output);
      const summary = renderSummary(run);
      io.stderr.write(io.stderr.isTTY === true ? terminalSafe(summary) : summary);
    }
    return run.stop_reason === 'completed' ? EXIT.ok : EXIT.runNotCompleted;
  } finally {
    live.stop();
    await backend.close();
  }
}

/** `keel run` on the database: opens the process's governance for the one run, then runs it. */
async function runDirect(
  backend: Extract<Backend, { mode: 'direct' }>,
  options: RunCommandOptions,
  io: CliIo,
  live: LiveRun,
  loaded: LoadedConfig,
): Promise<RunView> {
  const logger = createJsonLogger({ level: (io.env.KEEL_LOG_LEVEL as 'info' | undefined) ?? 'warn' });
  const governance = await openGovernance({ client: backend.client, config: loaded, env: io.env, logger });
  try {
    return await runGoverned({ backend, options, io, live, loaded, governance, logger });
  } finally {
    await governance.close();
  }
}

async function runGoverned({
  backend,
  options: { agent, input, detach, session, idempotencyKey, user, trigger = CLI_TRIGGER },
  io,
  live,
  loaded: { agents, gateway, redactByTenant },
  governance,
  logger,
}: {
  backend: Extract<Backend, { mode: 'direct' }>;
  options: RunCommandOptions;
  io: CliIo;
  live: LiveRun;
  loaded: LoadedConfig;
  governance: Governance;
  logger: Logger;
}): Promise<RunView> {
  const definition = agents.get(agent!);
  if (!definition) throw new UnknownAgentError(agent!, [...agents.keys()]);
  const { store } = backend;
  const { prompts } = governance;
  // A paused or disabled agent takes no new runs (exit 6), as the API answers 409.
  const hold = governance.controls.agentHold({ agent: definition.name, tenantId: 'default' });
  if (hold !== undefined) throw agentHeldError(definition.name, hold);
  // Only another process decides an approval. On the embedded database this process holds the
  // lock, so `keel approvals` could not run: the wait ends here and a worker resumes the run.
  const embedded = !io.env.DATABASE_URL;
  const stopWaiting = new AbortController();
  const requested: string[] = [];
  const showApproval = async (approvalId: string) => {
    const approval = await store.getApproval(approvalId);
    if (approval) live.note(renderApprovalRequest(approvalView(approval)));
  };
  if (detach) {
    const redact = runRedactor(definition, 'default', redactByTenant);
    const { run } = await store.createRun({
      agent: agent!,
      input: redact ? redactValue(input, redact) : input,
      sessionId: session ?? null,
      userId: user ?? null,
      trigger,
      promptVersion: await resolvePromptVersion({ prompts, agent: definition, tenantId: 'default' }),
      idempotencyKey: idempotencyKey ?? null,
    });
    return runView(run);
  }
  // The run's spans (OpenTelemetry export; off unless an OTLP endpoint is set), flushed before exit.
  const otel = createOtelExport({ env: io.env, client: backend.client, logger });
  const configured = openConfiguredGateway({
    config: gateway,
    client: backend.client,
    env: io.env,
    logger,
    governance: governance.gateway,
  });
  try {
    const run = runView(
      await runAgent({
        ...(otel === undefined ? {} : { telemetry: otel.telemetry }),
        store,
        prompts,
        policies: governance.governing,
        agents: [...agents.values()],
        agent: agent!,
        input,
        sessionId: session,
        ...(user === undefined ? {} : { userId: user }),
        trigger,
        idempotencyKey,
        ...(redactByTenant === undefined ? {} : { redactByTenant }),
        streamText: live.streamsText,
        logger,
        stopWaiting: stopWaiting.signal,
        onEvent: (event) => {
          if (event.type === 'approval-request') {
            requested.push(event.approvalId);
            if (embedded) stopWaiting.abort();
            else
              void showApproval(event.approvalId)
                .then(() => live.note('  waiting for the decision (from another terminal)…\n'))
                .catch((error: unknown) => logger.warn('approval not shown', { error: String(error) }));
          }
          const shown = liveEventOf(event);
          if (shown !== undefined) live.event(shown);
          else if (event.type === 'run-start' || event.type === 'run-wait') {
            const line = renderEvent(event);
            if (line !== undefined) live.progress(line);
          }
        },
      }),
    );
    if (embedded && run.status === 'awaiting_approval') {
      for (const approvalId of requested) await showApproval(approvalId);
      live.note(
        `keel run stops here: this process holds the embedded database, which keel approvals needs.\n` +
          `Once decided, keel worker (or keel serve) resumes run ${run.id}; keel show ${run.id} follows it.\n`,
      );
    }
    return run;
  } finally {
    await otel?.shutdown();
    await configured.close();
  }
}

/** A runtime event as `keel run` shows it; undefined for those it does not. */
function liveEventOf(event: RunEvent): LiveEvent | undefined {
  switch (event.type) {
    case 'text-delta':
      return { type: 'text', seq: event.seq, execution: event.attempt, text: event.text };
    case 'step-start':
      return { type: 'step-start', seq: event.seq, kind: event.kind, name: event.name };
    case 'step-end':
      return {
        type: 'step-end',
        seq: event.seq,
        kind: event.kind,
        name: event.name,
        status: event.status,
        replayed: event.replayed,
        durationMs: event.durationMs,
        costUsd: event.costUsd ?? null,
        ...(event.usage === undefined
          ? {}
          : { tokens: { input: event.usage.inputTokens, output: event.usage.outputTokens } }),
        error: event.error ?? null,
      };
    default:
      return undefined;
  }
}

/**
 * `keel run` through a server (the `keel serve` that owns the embedded database): submits the
 * run, then follows it over its event stream (`GET /v1/runs/{id}/events`), showing text live and
 * the approvals it waits on, until it ends.
 */
async function runRemote(
  backend: Extract<Backend, { mode: 'remote' }>,
  { agent, input, detach, session, idempotencyKey, user, trigger = CLI_TRIGGER }: RunCommandOptions,
  io: CliIo,
  live: LiveRun,
): Promise<RunView> {
  const { api } = backend;
  const submitted = await api.submit(
    {
      agent: agent!,
      input,
      ...(session ? { session_id: session } : {}),
      ...(user === undefined ? {} : { user_id: user }),
      trigger,
    },
    idempotencyKey,
  );
  if (detach)
    return (await api.getRun(submitted.id)) ?? ({ id: submitted.id, status: submitted.status } as RunView);
  return followRun({ api, runId: submitted.id, live, signal: io.signal });
}
