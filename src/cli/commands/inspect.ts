import { RunNotFoundError } from '../../errors/storage-errors.js';
import { RUN_STATUSES, type RunStatus } from '../../journal/types.js';
import { runView, type RunView } from '../../server/run-views.js';
import { fetchRun, fetchSteps, openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { cliActor } from '../cli-actor.js';
import { renderDeadRunTable, renderRunDetail, renderRunTable } from '../render.js';
import { UsageError } from '../usage-error.js';
import { checkAttributionFlags } from '../attribution-flags.js';

/**
 * `keel runs`: the most recent runs, newest first. `--dead`: only dead runs (stop reason
 * `error`), with their last error and the run that retried them, combined with the other filters.
 */
export async function runsCommand(
  {
    limit = '20',
    status,
    agent,
    user,
    trigger,
    dead = false,
    json,
  }: {
    limit?: string;
    status?: string;
    agent?: string;
    user?: string;
    trigger?: string;
    dead?: boolean;
    json: boolean;
  },
  io: CliIo,
): Promise<number> {
  const count = Number(limit);
  if (!Number.isInteger(count) || count < 1 || count > 500)
    throw new UsageError('--limit must be an integer from 1 to 500');
  if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
    throw new UsageError(`--status must be one of ${RUN_STATUSES.join(', ')}`);
  }
  checkAttributionFlags({ user, trigger });
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let runs: RunView[];
    if (backend.mode === 'remote') {
      runs = await backend.api.listRuns({
        limit: String(count),
        ...(status ? { status } : {}),
        ...(agent ? { agent } : {}),
        ...(user === undefined ? {} : { user_id: user }),
        ...(trigger === undefined ? {} : { trigger }),
        ...(dead ? { dead: 'true' } : {}),
      });
    } else {
      const page = await backend.store.listRuns({
        limit: count,
        status: status as RunStatus | undefined,
        agent,
        userId: user,
        trigger,
        dead,
      });
      runs = page.runs.map(runView);
    }
    const table = dead ? renderDeadRunTable(runs) : renderRunTable(runs);
    io.stdout.write(json ? JSON.stringify(runs) + '\n' : table);
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

/** `keel show <run-id>`: a run, its journal and its output. */
export async function showCommand(
  { runId, json }: { runId?: string; json: boolean },
  io: CliIo,
): Promise<number> {
  if (!runId) throw new UsageError('Usage: keel show <run-id> [--json]');
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    const run = await fetchRun(backend, runId);
    if (!run) throw new RunNotFoundError(runId);
    const steps = await fetchSteps(backend, runId, json);
    io.stdout.write(json ? JSON.stringify({ ...run, steps }) + '\n' : renderRunDetail(run, steps));
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

/**
 * `keel runs retry <run-id>`: retries a dead run as a new run, as `POST /v1/runs/{id}/retry`
 * does (audited as `run.retry`, by `cli:<user>` on a direct database, by the server's admin key
 * through a running server). `run_not_found`, `run_not_dead` and `run_already_retried` exit 2.
 */
export async function retryCommand(
  { runId, json }: { runId?: string; json: boolean },
  io: CliIo,
): Promise<number> {
  if (!runId) throw new UsageError('Usage: keel runs retry <run-id> [--json]');
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let retry: RunView;
    if (backend.mode === 'remote') retry = await backend.api.retryRun(runId);
    else retry = runView(await backend.store.retryRun({ runId, actor: cliActor(io.env) }));
    io.stdout.write(
      json
        ? JSON.stringify(retry) + '\n'
        : `Run ${runId} is retried by run ${retry.id} (${retry.status}): keel runs show ${retry.id}\n`,
    );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

/** `keel migrate`: applies pending migrations and reports the schema version. */
export async function migrateCommand({ json = false }: { json?: boolean }, io: CliIo): Promise<number> {
  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true, migrate: true });
  try {
    io.stdout.write(
      json
        ? JSON.stringify({ migrated: true, store: backend.description }) + '\n'
        : `Migrations applied (${backend.description}).\n`,
    );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}
