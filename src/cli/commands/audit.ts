import { createAuditLog } from '../../governance/audit-query.js';
import { auditFilterFor, auditView, type AuditView } from '../../server/audit-routes.js';
import { listAuditQuery } from '../../server/governance-schemas.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../render.js';
import { UsageError } from '../usage-error.js';

const USAGE = `Usage:
  keel audit [--action A|thing.*] [--actor A] [--target T] [--since T] [--until T] [--tenant T] [--limit N] [--cursor C] [--json]`;

/** Options of `keel audit`, as parsed from the command line. */
export interface AuditCommandOptions {
  action?: string;
  actor?: string;
  target?: string;
  since?: string;
  until?: string;
  tenant?: string;
  limit?: string;
  cursor?: string;
  json: boolean;
}

/**
 * `keel audit`: the audit log, newest first, every tenant's unless `--tenant` (whoever can open
 * the database, or the local admin key, is an operator). One page per call: `--json` gives its
 * `next_cursor`, passed back with `--cursor`.
 */
export async function auditCommand(options: AuditCommandOptions, io: CliIo): Promise<number> {
  const raw = Object.fromEntries(
    Object.entries({
      action: options.action,
      actor: options.actor,
      target: options.target,
      since: options.since,
      until: options.until,
      tenant_id: options.tenant,
      limit: options.limit,
      cursor: options.cursor,
    }).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const parsed = listAuditQuery.safeParse(raw);
  if (!parsed.success)
    throw new UsageError(
      `${parsed.error.issues.map((issue) => `--${issueFlag(issue.path)}: ${issue.message}`).join('; ')}`,
      USAGE,
    );
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let page: { data: AuditView[]; next_cursor: string | null };
    if (backend.mode === 'remote') page = await backend.api.listAudit(raw);
    else {
      const filter = auditFilterFor({ tenantId: '', scopes: ['operator'] }, parsed.data);
      const found = await createAuditLog({ client: backend.client }).list(filter);
      page = { data: found.entries.map(auditView), next_cursor: found.nextCursor ?? null };
    }
    io.stdout.write(options.json ? JSON.stringify(page) + '\n' : renderAudit(page));
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

function issueFlag(path: readonly PropertyKey[]): string {
  const name = String(path[0] ?? 'query');
  return name === 'tenant_id' ? 'tenant' : name;
}

function renderAudit(page: { data: AuditView[]; next_cursor: string | null }): string {
  if (page.data.length === 0) return 'No audit entries.\n';
  const table = renderTable(
    ['ID', 'AT', 'TENANT', 'ACTOR', 'ACTION', 'TARGET', 'CHANGE'],
    page.data.map((entry) => [
      String(entry.id),
      entry.at,
      entry.tenant_id,
      entry.actor,
      entry.action,
      entry.target,
      change(entry),
    ]),
  );
  return page.next_cursor === null ? table : `${table}More: --cursor ${page.next_cursor}\n`;
}

/** `before → after` in one short line (the full rows are in `--json`). */
function change(entry: AuditView): string {
  const short = (value: unknown) => {
    const text = value === null || value === undefined ? '-' : JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  };
  if (entry.before === null && entry.after === null)
    return entry.details === null ? '' : short(entry.details);
  return `${short(entry.before)} → ${short(entry.after)}`;
}
