import { Document, isMap, isNode, isSeq } from 'yaml';
import type { Cassette } from '../cassettes/cassette.js';
import { cassetteOfRun } from '../cassettes/cassette-store.js';
import { KeelError } from '../errors/keel-error.js';
import type { JournalStore } from '../journal/store.js';
import { TERMINAL_STATUSES, type RunRecord, type RunStatus } from '../journal/types.js';
import type { RunFeedback, RunFeedbackRecord } from '../feedback/feedback.js';
import type { RunOutcome, RunOutcomes } from '../feedback/outcomes.js';
import { buildCapturedCase, isNegativeFeedback, type CapturedCase } from './captured-case.js';

export { type CapturedCase } from './captured-case.js';

/** Which runs `captureCases` takes, besides the agent: by outcome and/or by feedback. */
export const CAPTURE_OUTCOMES = ['committed', 'rejected'] as const;
export const CAPTURE_FEEDBACK = ['negative'] as const;

/** A run as {@link CaptureSource} lists it: enough to pick it and to read the rest. */
export interface CaptureCandidate {
  id: string;
  tenantId: string;
  status: RunStatus;
  trigger: string | null;
}

/**
 * Where {@link captureCases} reads runs: the journal itself ({@link createJournalCaptureSource}),
 * or a server's API (the CLI's, while a `keel serve` owns the embedded database).
 */
export interface CaptureSource<Run extends CaptureCandidate = CaptureCandidate> {
  /** One page of the agent's runs, newest first (`tenantId`: only that tenant's). */
  listRuns(query: {
    agent: string;
    limit: number;
    cursor?: string;
    tenantId?: string;
  }): Promise<{ runs: Run[]; nextCursor?: string }>;
  /** The run's outcome (undefined while speculative) and its feedback, newest first. */
  judgement(run: Run): Promise<{
    outcome: Pick<RunOutcome, 'status'> | undefined;
    feedback: RunFeedbackRecord[];
  }>;
  /** The ended run with its steps and the session history it saw. */
  cassette(run: Run): Promise<Cassette>;
}

/** The journal as a {@link CaptureSource}: runs, outcomes and feedback from the same database. */
export function createJournalCaptureSource({
  store,
  runOutcomes,
  runFeedback,
}: {
  store: Pick<JournalStore, 'listRuns' | 'loadSteps'>;
  /** `createRunOutcomes` / `createRunFeedback` over the store's client. */
  runOutcomes: Pick<RunOutcomes, 'get'>;
  runFeedback: Pick<RunFeedback, 'list'>;
}): CaptureSource<RunRecord> {
  return {
    listRuns: ({ agent, limit, cursor, tenantId }) =>
      store.listRuns({
        agent,
        limit,
        ...(tenantId === undefined ? {} : { tenantId }),
        ...(cursor === undefined ? {} : { cursor }),
      }),
    async judgement(run) {
      const [outcome, feedback] = await Promise.all([
        runOutcomes.get(run.id, { tenantId: run.tenantId }),
        runFeedback.list(run.id, { tenantId: run.tenantId }),
      ]);
      return { outcome, feedback };
    },
    cassette: (run) => cassetteOfRun({ store, run }),
  };
}

/** Options of {@link captureCases}. */
export interface CaptureOptions<Run extends CaptureCandidate = CaptureCandidate> {
  source: CaptureSource<Run>;
  agent: string;
  /** Only runs whose outcome is this. */
  outcome?: (typeof CAPTURE_OUTCOMES)[number];
  /** Only runs with negative feedback (a thumbs down, or a score below 0.5). */
  feedback?: (typeof CAPTURE_FEEDBACK)[number];
  /** At most this many cases (a positive integer). */
  limit: number;
  /** Only this tenant's runs; every tenant's by default. */
  tenantId?: string;
}

/** What {@link captureCases} found. */
export interface CaptureResult {
  /** Newest run first. */
  cases: CapturedCase[];
  /** How many ended runs of the agent were looked at. */
  scanned: number;
}

/** Runs read per page while looking for matching ones. */
const PAGE_SIZE = 100;
/** Runs whose outcome and feedback are read at the same time. */
const JUDGED_AT_ONCE = 10;

/** Capture options that make no sense (a limit that is not a positive integer, an unknown filter). */
export class CaptureOptionsInvalidError extends KeelError {
  constructor(problem: string) {
    super({ code: 'capture_invalid', message: `Cannot capture cases: ${problem}`, fault: 'caller' });
  }
}

/**
 * Turns an agent's ended production runs into eval cases (see `buildCapturedCase`), reading the
 * journal newest first until `limit` cases are found or the runs run out. Runs the eval harness
 * made (`trigger: eval`) are skipped: a dataset from production holds production runs.
 *
 * Everything comes from the journal as stored: payloads the agent's or tenant's redaction rules
 * removed are not in the cases either (through the API, payload scopes apply as well). Reads one
 * page of runs at a time, then per run its outcome and feedback, and per kept run its steps and
 * session history.
 */
export async function captureCases<Run extends CaptureCandidate>({
  source,
  agent,
  outcome,
  feedback,
  limit,
  tenantId,
}: CaptureOptions<Run>): Promise<CaptureResult> {
  if (!Number.isInteger(limit) || limit < 1)
    throw new CaptureOptionsInvalidError(`limit must be a positive integer, got ${limit}.`);
  if (outcome !== undefined && !CAPTURE_OUTCOMES.includes(outcome))
    throw new CaptureOptionsInvalidError(`outcome must be one of ${CAPTURE_OUTCOMES.join(', ')}.`);
  if (feedback !== undefined && !CAPTURE_FEEDBACK.includes(feedback))
    throw new CaptureOptionsInvalidError(`feedback must be one of ${CAPTURE_FEEDBACK.join(', ')}.`);

  const cases: CapturedCase[] = [];
  let scanned = 0;
  let cursor: string | undefined;
  do {
    const page = await source.listRuns({
      agent,
      limit: PAGE_SIZE,
      ...(tenantId === undefined ? {} : { tenantId }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    cursor = page.nextCursor;
    const ended = page.runs.filter((run) => TERMINAL_STATUSES.includes(run.status) && run.trigger !== 'eval');
    scanned += ended.length;
    const judged = [];
    // A few at a time: a page is 100 runs, and each judgement is two reads (queries, or requests).
    for (let at = 0; at < ended.length; at += JUDGED_AT_ONCE) {
      const slice = ended.slice(at, at + JUDGED_AT_ONCE);
      judged.push(
        ...(await Promise.all(slice.map(async (run) => ({ run, ...(await source.judgement(run)) })))),
      );
    }
    for (const each of judged) {
      if (cases.length >= limit) break;
      if (outcome !== undefined && each.outcome?.status !== outcome) continue;
      if (feedback === 'negative' && !each.feedback.some(isNegativeFeedback)) continue;
      const captured = buildCapturedCase({
        cassette: await source.cassette(each.run),
        outcome: each.outcome,
        feedback: each.feedback,
      });
      if (captured) cases.push(captured);
    }
  } while (cursor !== undefined && cases.length < limit);
  return { cases, scanned };
}

/**
 * Writes captured cases as a suite file (YAML, read back by `parseSuite`): `name`, `agent`, a
 * description, and the cases, each under a comment naming its source run and quoting its output.
 */
export function renderCapturedSuite({
  agent,
  cases,
  capturedAt,
}: {
  agent: string;
  cases: readonly CapturedCase[];
  capturedAt: Date;
}): string {
  const document = new Document({
    name: `captured-${agent}`,
    agent,
    description: `Cases captured from production runs of ${agent} by keel eval capture.`,
    cases: cases.map(({ id, input, session, tools, tags, expect }) => ({
      id,
      input,
      ...(session ? { session } : {}),
      ...(tools ? { tools } : {}),
      tags,
      expect,
    })),
  });
  const regressions = cases.filter((each) => each.regression).length;
  document.commentBefore = commentText(
    [
      `Captured by keel eval capture at ${capturedAt.toISOString()}: ${cases.length} cases from runs`,
      `of ${agent} (${regressions} regression). Inputs and outputs are the journal's as stored`,
      "(redacted where the agent's or tenant's rules redact). Review before committing.",
    ].join('\n'),
  );
  const list = isMap(document.contents) ? document.contents.get('cases', true) : undefined;
  if (isSeq(list)) {
    list.items.forEach((node, index) => {
      const comment = cases[index]?.comment;
      if (comment !== undefined && isNode(node)) node.commentBefore = commentText(comment);
    });
  }
  return document.toString({ lineWidth: 0 });
}

/**
 * Comment text that stays a comment: each line becomes `# line` (the `yaml` package prefixes the
 * `#`), so line breaks other than `\n` (a lone `\r` would end the comment) and control
 * characters (not allowed in a YAML stream) are written as escapes.
 */
function commentText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(UNSAFE_IN_COMMENT, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .split('\n')
    .map((line) => ` ${line}`)
    .join('\n');
}

/** Control characters (other than tab and line feed), and what some readers take for line breaks. */
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_COMMENT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]/g;
