import { createRetention, type PruneCounts } from '../../journal/retention.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../usage-error.js';

const USAGE = `Usage: keel prune --older-than <N>d|h|m [--dry-run] [--json]
Deletes runs that ended before then (with their steps, payloads, streamed text, approvals and
outcomes; a session still in use since then keeps its runs), gateway call records started before
then, and expired cached responses.`;

const DURATION = /^(\d{1,6})(d|h|m)$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/** `keel prune`: retention, run by hand or from cron; see `journal/retention.ts`. */
export async function pruneCommand(
  { olderThan, dryRun, json }: { olderThan?: string; dryRun: boolean; json: boolean },
  io: CliIo,
): Promise<number> {
  if (olderThan === undefined) throw new UsageError(`keel prune needs --older-than.`, USAGE);
  const match = DURATION.exec(olderThan.trim());
  if (match === null || Number(match[1]) === 0)
    throw new UsageError(`--older-than must be like 30d, 12h or 90m, not "${olderThan}".`, USAGE);
  const before = new Date(Date.now() - Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);

  const backend = await openBackend({ env: io.env, cwd: io.cwd, directOnly: true });
  try {
    if (backend.mode !== 'direct') throw new UsageError('keel prune needs direct database access');
    const retention = createRetention({ client: backend.client });
    const counts = dryRun ? await retention.count({ before }) : await retention.prune({ before });
    io.stdout.write(
      json
        ? JSON.stringify({ before: before.toISOString(), dry_run: dryRun, ...snakeCase(counts) }) + '\n'
        : `${dryRun ? 'Would delete' : 'Deleted'} ${counts.runs} run(s) ended before ${before.toISOString()}, ` +
            `${counts.gatewayCalls} gateway call record(s) and ${counts.cachedResponses} expired cached response(s).\n`,
    );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

function snakeCase(counts: PruneCounts) {
  return { runs: counts.runs, gateway_calls: counts.gatewayCalls, cached_responses: counts.cachedResponses };
}
