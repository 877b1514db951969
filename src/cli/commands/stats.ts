import type { z } from 'zod';
import {
  resolveCompareSides,
  resolveWindow,
  type CompareSides,
  type TimeWindow,
} from '../../analytics/analytics-query.js';
import { createAnalytics } from '../../analytics/analytics-store.js';
import type { AnalyticsComparison, AnalyticsSummary } from '../../analytics/analytics-types.js';
import { isKeelError } from '../../errors/keel-error.js';
import { compareQuery, summaryQuery } from '../../server/analytics-schemas.js';
import { parseWith } from '../../server/http-io.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderComparison, renderSummaryReport } from '../render-stats.js';
import { UsageError } from '../usage-error.js';

/** The flags of `keel stats`, as parsed. */
export interface StatsFlags {
  from?: string | undefined;
  to?: string | undefined;
  agent?: string | undefined;
  tenant?: string | undefined;
  groupBy?: string | undefined;
  compare: boolean;
  aFrom?: string | undefined;
  aTo?: string | undefined;
  bFrom?: string | undefined;
  bTo?: string | undefined;
  aVersion?: string | undefined;
  bVersion?: string | undefined;
  json: boolean;
}

/**
 * `keel stats`: the analytics summary of a window (default the last 7 days), every tenant unless
 * `--tenant`; `--compare` puts two windows (`--a-from --a-to --b-from --b-to`) or two prompt
 * versions (`--agent --a-version --b-version`) side by side with their significance tests. The
 * flags are validated as the API validates its query (a bad one exits 2 naming it).
 */
export async function statsCommand(flags: StatsFlags, io: CliIo): Promise<number> {
  const query = defined(
    flags.compare
      ? {
          a_from: flags.aFrom,
          a_to: flags.aTo,
          b_from: flags.bFrom,
          b_to: flags.bTo,
          a_version: flags.aVersion,
          b_version: flags.bVersion,
          from: flags.from,
          to: flags.to,
          agent: flags.agent,
          tenant: flags.tenant,
        }
      : { from: flags.from, to: flags.to, agent: flags.agent, tenant: flags.tenant, group_by: flags.groupBy },
  );
  if (flags.compare && flags.groupBy !== undefined)
    throw new UsageError('--group-by does not apply to --compare');
  if (!flags.compare) {
    const stray = [flags.aFrom, flags.aTo, flags.bFrom, flags.bTo, flags.aVersion, flags.bVersion];
    if (stray.some((value) => value !== undefined))
      throw new UsageError('--a-from, --a-to, --b-from, --b-to, --a-version and --b-version need --compare');
  }
  type Report =
    | { kind: 'compare'; parsed: z.infer<typeof compareQuery>; sides: CompareSides }
    | { kind: 'summary'; parsed: z.infer<typeof summaryQuery>; window: TimeWindow };
  const report = await asUsage(async (): Promise<Report> => {
    // Checked before anything is opened, as the server would check it.
    const now = Date.now();
    if (flags.compare) {
      const parsed = parseWith(compareQuery, query);
      return { kind: 'compare', parsed, sides: resolveCompareSides(parsed, now) };
    }
    const parsed = parseWith(summaryQuery, query);
    return { kind: 'summary', parsed, window: resolveWindow({ from: parsed.from, to: parsed.to, now }) };
  });
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let answer: AnalyticsSummary | AnalyticsComparison;
    if (backend.mode === 'remote') {
      answer = (await backend.api.analytics(flags.compare ? 'compare' : 'summary', query)) as typeof answer;
    } else {
      const analytics = createAnalytics({ client: backend.client });
      const tenantId = report.parsed.tenant ?? null;
      answer =
        report.kind === 'compare'
          ? await analytics.compare({ sides: report.sides, tenantId, agent: report.parsed.agent ?? null })
          : await analytics.summary({
              window: report.window,
              tenantId,
              agent: report.parsed.agent ?? null,
              ...(report.parsed.group_by !== undefined ? { groupBy: report.parsed.group_by } : {}),
            });
    }
    if (flags.json) io.stdout.write(JSON.stringify(answer) + '\n');
    else
      io.stdout.write(
        flags.compare
          ? renderComparison(answer as AnalyticsComparison)
          : renderSummaryReport(answer as AnalyticsSummary),
      );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

/** A bad flag value is a usage error (exit 2), with the API's message naming the field. */
async function asUsage<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (isKeelError(error) && error.code === 'invalid_request') throw new UsageError(error.message);
    throw error;
  }
}

function defined(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}
