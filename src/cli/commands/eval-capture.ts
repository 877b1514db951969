import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CAPTURE_FEEDBACK,
  CAPTURE_OUTCOMES,
  captureCases,
  createJournalCaptureSource,
  renderCapturedSuite,
  type CaptureOptions,
  type CaptureSource,
} from '../../evals/capture.js';
import { createRunFeedback } from '../../feedback/feedback.js';
import { createRunOutcomes } from '../../feedback/outcomes.js';
import { openBackend } from '../backend.js';
import { createApiCaptureSource } from '../capture-api-source.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../usage-error.js';

const USAGE =
  'Usage: keel eval capture --agent A [--outcome committed|rejected] [--feedback negative] [--limit N] [--tenant T] [-o suite.yaml] [--json]';

/** Cases captured when `--limit` is not given. */
const DEFAULT_LIMIT = 50;

/** Flags of `keel eval capture`, as the command line gives them (strings). */
export interface EvalCaptureFlags {
  agent?: string;
  outcome?: string;
  feedback?: string;
  limit?: string | number;
  tenant?: string;
  /** The suite file to write; stdout when absent. */
  output?: string;
  /** A summary object on stdout (needs `-o`: the suite itself is YAML). */
  json?: boolean;
}

/** The tenant of the local admin key, the only one a capture through the local server reads. */
const LOCAL_TENANT = 'default';

/**
 * `keel eval capture --agent A ... [-o suite.yaml]`: turns the agent's ended production runs into
 * a suite (see `captureCases`). Reads the database directly, or, while a `keel serve` owns the
 * embedded database, that server's API with the local admin key (tenant `default` only).
 */
export async function evalCaptureCommand(flags: EvalCaptureFlags, io: CliIo): Promise<number> {
  const options = parseFlags(flags);
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    let source: CaptureSource;
    if (backend.mode === 'direct') {
      source = createJournalCaptureSource({
        store: backend.store,
        runOutcomes: createRunOutcomes({ client: backend.client }),
        runFeedback: createRunFeedback({ client: backend.client }),
      });
    } else {
      if (options.tenantId !== undefined && options.tenantId !== LOCAL_TENANT) {
        throw new UsageError(
          `--tenant ${options.tenantId}: through ${backend.description}, which owns the embedded database, ` +
            `the local admin key reads tenant ${LOCAL_TENANT} only. Stop the server to read another tenant.`,
        );
      }
      source = createApiCaptureSource(backend.api, LOCAL_TENANT);
    }
    const { cases, scanned } = await captureCases({ ...options, source });
    const text = renderCapturedSuite({ agent: options.agent, cases, capturedAt: new Date() });
    const regressions = cases.filter((each) => each.regression).length;
    if (flags.output === undefined) io.stdout.write(text);
    else writeSuite(io, flags.output, text);
    if (flags.json) {
      io.stdout.write(
        JSON.stringify({
          file: flags.output,
          agent: options.agent,
          cases: cases.length,
          regression: regressions,
          scanned,
          ids: cases.map((each) => each.id),
        }) + '\n',
      );
    } else {
      io.stderr.write(
        `Captured ${cases.length} cases (${regressions} regression)` +
          ` from ${scanned} ended runs of ${options.agent}${flags.output === undefined ? '' : `; wrote ${flags.output}`}.\n`,
      );
    }
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

function writeSuite(io: CliIo, file: string, text: string): void {
  try {
    writeFileSync(resolve(io.cwd, file), text);
  } catch (error) {
    throw new UsageError(`Cannot write ${file}: ${(error as Error).message}`);
  }
}

function parseFlags(flags: EvalCaptureFlags): Omit<CaptureOptions, 'source'> {
  const agent = flags.agent?.trim();
  if (!agent) throw new UsageError(`--agent is required.`, USAGE);
  const outcome = flags.outcome;
  if (outcome !== undefined && !isOneOf(CAPTURE_OUTCOMES, outcome))
    throw new UsageError(`Unknown --outcome "${outcome}": use committed or rejected.`, USAGE);
  const feedback = flags.feedback;
  if (feedback !== undefined && !isOneOf(CAPTURE_FEEDBACK, feedback))
    throw new UsageError(`Unknown --feedback "${feedback}": use negative.`, USAGE);
  const limit = flags.limit === undefined ? DEFAULT_LIMIT : Number(flags.limit);
  if (!/^\s*\d+\s*$/.test(String(flags.limit ?? DEFAULT_LIMIT)) || !Number.isSafeInteger(limit) || limit < 1)
    throw new UsageError(`--limit must be a positive integer, got "${flags.limit}".`, USAGE);
  if (flags.json && flags.output === undefined)
    throw new UsageError(`--json prints a summary: give -o for the suite file.`, USAGE);
  return {
    agent,
    limit,
    ...(outcome === undefined ? {} : { outcome }),
    ...(feedback === undefined ? {} : { feedback }),
    ...(flags.tenant === undefined ? {} : { tenantId: flags.tenant }),
  };
}

function isOneOf<T extends string>(values: readonly T[], value: string): value is T {
  return (values as readonly string[]).includes(value);
}
