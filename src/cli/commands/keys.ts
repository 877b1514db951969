import {
  API_KEY_SCOPES,
  createApiKeys,
  type ApiKeyRecord,
  type ApiKeyScope,
} from '../../gateway/api-keys.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
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
 * key is printed once and never again: only its hash is stored.
 */
export async function keysCommand(options: KeysCommandOptions, io: CliIo): Promise<number> {
  const { action } = options;
  if (action !== 'create' && action !== 'list' && action !== 'revoke') throw new UsageError(USAGE);
  if (action === 'revoke' && !options.id)
    throw new UsageError(`keel keys revoke needs a key id.\n\n${USAGE}`);
  const create = action === 'create' ? parseCreate(options) : undefined;

  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
  try {
    if (backend.mode !== 'direct') throw new UsageError('keel keys needs direct database access');
    const apiKeys = createApiKeys({ client: backend.client });
    if (create !== undefined) {
      const { key, record } = await apiKeys.create(create);
      io.stdout.write(
        options.json
          ? JSON.stringify({ key, ...recordView(record) }) + '\n'
          : `${key}\n\nCreated ${record.id} for tenant ${record.tenantId} (scopes: ${record.scopes.join(', ')}).\n` +
              `Store the key now: it is not shown again.\n`,
      );
      return EXIT.ok;
    }
    if (action === 'list') {
      const records = await apiKeys.list(options.tenant === undefined ? {} : { tenantId: options.tenant });
      io.stdout.write(options.json ? JSON.stringify(records.map(recordView)) + '\n' : renderTable(records));
      return EXIT.ok;
    }
    const revoked = await apiKeys.revoke(options.id as string);
    if (revoked === undefined) throw new UsageError(`No API key with id "${options.id}".`);
    io.stdout.write(`Revoked ${revoked.id} (${revoked.prefix}…, tenant ${revoked.tenantId}).\n`);
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

function parseCreate(options: KeysCommandOptions) {
  if (!options.tenant) throw new UsageError(`keel keys create needs --tenant.\n\n${USAGE}`);
  const scopes = (options.scopes ?? '')
    .split(',')
    .map((scope) => scope.trim())
    .filter((scope) => scope !== '');
  if (scopes.length === 0) throw new UsageError(`keel keys create needs --scopes.\n\n${USAGE}`);
  for (const scope of scopes)
    if (!(API_KEY_SCOPES as readonly string[]).includes(scope))
      throw new UsageError(`Unknown scope "${scope}". Scopes: ${API_KEY_SCOPES.join(', ')}.`);
  const rpm = limit('rpm', options.rpm);
  const tpm = limit('tpm', options.tpm);
  return {
    tenantId: options.tenant,
    scopes: scopes as ApiKeyScope[],
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(rpm === undefined ? {} : { rpm }),
    ...(tpm === undefined ? {} : { tpm }),
  };
}

function limit(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1)
    throw new UsageError(`--${name} must be a positive integer, not "${value}"`);
  return number;
}

function statusOf(record: ApiKeyRecord): string {
  if (record.revokedAt !== undefined) return 'revoked';
  if (record.expiresAt !== undefined && record.expiresAt.getTime() <= Date.now()) return 'expired';
  return 'active';
}

function recordView(record: ApiKeyRecord) {
  return {
    id: record.id,
    tenant_id: record.tenantId,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    rpm: record.rpm ?? null,
    tpm: record.tpm ?? null,
    status: statusOf(record),
    created_at: record.createdAt.toISOString(),
    last_used_at: record.lastUsedAt?.toISOString() ?? null,
    revoked_at: record.revokedAt?.toISOString() ?? null,
    expires_at: record.expiresAt?.toISOString() ?? null,
  };
}

function renderTable(records: ApiKeyRecord[]): string {
  if (records.length === 0) return 'No API keys.\n';
  const rows = [
    ['ID', 'TENANT', 'NAME', 'PREFIX', 'SCOPES', 'RPM', 'TPM', 'STATUS', 'LAST USED'],
    ...records.map((record) => [
      record.id,
      record.tenantId,
      record.name || '-',
      `${record.prefix}…`,
      record.scopes.join(','),
      record.rpm === undefined ? '-' : String(record.rpm),
      record.tpm === undefined ? '-' : String(record.tpm),
      statusOf(record),
      record.lastUsedAt?.toISOString() ?? '-',
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, column) => cell.padEnd(widths[column]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
