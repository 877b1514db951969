import { createUserErasure } from '../../governance/user-erasure.js';
import { openBackend } from '../backend.js';
import { cliActor } from '../cli-actor.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../usage-error.js';
import { CLI_TENANT } from './prompts.js';

const USAGE = `Usage:
  keel erase --user <id> [--tenant T] [--json]`;

/** Options of `keel erase`, as parsed from the command line. */
export interface EraseCommandOptions {
  user?: string;
  tenant?: string;
  json: boolean;
}

/**
 * `keel erase --user <id>`: deletes an end user's runs, sessions and everything stored under
 * them in one tenant (`--tenant`, default `default`), audited as `user.erase` with the counts.
 * Refused (`user_runs_running`, nothing deleted) while a worker executes one of those runs.
 */
export async function eraseCommand(options: EraseCommandOptions, io: CliIo): Promise<number> {
  const userId = options.user;
  if (userId === undefined || userId.trim() === '' || userId.length > 200)
    throw new UsageError(`keel erase needs --user <id> (1-200 characters).`, USAGE);
  const tenantId = options.tenant ?? CLI_TENANT;
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let erased;
    if (backend.mode === 'remote') {
      if (tenantId !== CLI_TENANT)
        throw new UsageError(
          `Through the running server (${backend.description}) the CLI erases in tenant "${CLI_TENANT}" only; ` +
            `use DELETE /v1/users/{id}/data with an admin key of tenant "${tenantId}".`,
        );
      erased = (await backend.api.eraseUser(userId)).erased;
    } else {
      erased = await createUserErasure({ client: backend.client }).erase({
        tenantId,
        userId,
        actor: cliActor(io.env),
      });
    }
    io.stdout.write(
      options.json
        ? JSON.stringify({ user_id: userId, tenant_id: tenantId, erased }) + '\n'
        : `Erased user ${userId} in tenant ${tenantId}: ${erased.runs} runs, ${erased.sessions} sessions, ` +
            `${erased.steps} steps, ${erased.payloads} payloads, ${erased.feedback} feedback, ` +
            `${erased.gateway_calls} gateway calls.\n`,
    );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}
