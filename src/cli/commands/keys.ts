import { API_KEY_SCOPES, createApiKeys, type ApiKeyScope } from '../../gateway/api-keys.js';
import { keyAdmin, type KeyView } from '../../server/key-routes.js';
import { openBackend } from '../backend.js';
import { cliActor } from '../cli-actor.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { positiveIntegerOf } from '../parse-options.js';
import { renderTable } from '../render.js';
import { UsageError } from '../usage-error.js';

const USAGE = `Usage:
  keel keys create --tenant T --scopes gateway[,runs:read,...] [--name N] [--rpm N] [--tpm N] [--json]
  keel keys list [--tenant T] [--json]
  keel keys revoke <id>
Scopes: ${API_KEY_SCOPES.join(', ')}`;

/** Options of `keel keys`, as parsed from the command line. */
export interface KeysCommandOptions {
  action?: string;
  id?: string;
  tenant?: string;
  scopes?: string;
  name?: string;
  rpm?: string;
  tpm?: string;
  json: boolean;
}

/**
 * `keel keys create | list | revoke`: Keel API keys (virtual keys) in the shared database. A new
 * key is printed once and never again: only its hash is stored. With the embedded database held
 * by a running `keel serve`, the commands go through its `/v1/keys` API with the local admin key
 * (which has the `operator` scope: every tenant's keys).
 */
export async function keysCommand(options: KeysCommandOptions, io: CliIo): Promise<number> {
  const { action } = options;
  if (action !== 'create' && action !== 'list' && action !== 'revoke') throw new UsageError(USAGE);
  if (action === 'revoke' && !options.id) throw new UsageError(`keel keys revoke needs a key id.`, USAGE);
  const create = action === 'create' ? parseCreate(options) : undefined;

  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    const keys =
      backend.mode === 'direct'
        ? keyAdmin(createApiKeys({ client: backend.client }), cliActor(io.env))
        : backend.api;
    if (create !== undefined) {
      const created = await keys.createKey(create);
      io.stdout.write(
        options.json
          ? JSON.stringify(created) + '\n'
          : `${created.key}\n\nCreated ${created.id} for tenant ${created.tenant_id} (scopes: ${created.scopes.join(', ')}).\n` +
              `Store the key now: it is not shown again.\n`,
      );
      return EXIT.ok;
    }
    if (action === 'list') {
      const views = await keys.listKeys(options.tenant);
      io.stdout.write(options.json ? JSON.stringify(views) + '\n' : renderKeyTable(views));
      return EXIT.ok;
    }
    const revoked = await keys.revokeKey(options.id as string);
    if (revoked === undefined) throw new UsageError(`No API key with id "${options.id}".`);
    io.stdout.write(
      options.json
        ? JSON.stringify(revoked) + '\n'
        : `Revoked ${revoked.id} (${revoked.prefix}…, tenant ${revoked.tenant_id}).\n`,
    );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

function parseCreate(options: KeysCommandOptions) {
  if (!options.tenant) throw new UsageError(`keel keys create needs --tenant.`, USAGE);
  const scopes = (options.scopes ?? '')
    .split(',')
    .map((scope) => scope.trim())
    .filter((scope) => scope !== '');
  if (scopes.length === 0) throw new UsageError(`keel keys create needs --scopes.`, USAGE);
  for (const scope of scopes)
    if (!(API_KEY_SCOPES as readonly string[]).includes(scope))
      throw new UsageError(`Unknown scope "${scope}". Scopes: ${API_KEY_SCOPES.join(', ')}.`);
  const rpm = positiveIntegerOf('--rpm', options.rpm);
  const tpm = positiveIntegerOf('--tpm', options.tpm);
  return {
    tenant_id: options.tenant,
    scopes: scopes as ApiKeyScope[],
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(rpm === undefined ? {} : { rpm }),
    ...(tpm === undefined ? {} : { tpm }),
  };
}

function renderKeyTable(views: KeyView[]): string {
  if (views.length === 0) return 'No API keys.\n';
  return renderTable(
    ['ID', 'TENANT', 'NAME', 'PREFIX', 'SCOPES', 'RPM', 'TPM', 'STATUS', 'LAST USED'],
    views.map((view) => [
      view.id,
      view.tenant_id,
      view.name || '-',
      `${view.prefix}…`,
      view.scopes.join(','),
      view.rpm === null ? '-' : String(view.rpm),
      view.tpm === null ? '-' : String(view.tpm),
      view.status,
      view.last_used_at ?? '-',
    ]),
  );
}
