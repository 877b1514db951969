import type { JournalStore } from '../journal/store.js';
import type { RunRecord } from '../journal/types.js';
import type { Message } from '../model/model.js';
import { canonicalJson } from '../util/canonical-hash.js';

/** Runs read per page; a session's history is one query up to this many exchanges. */
const PAGE_SIZE = 500;

/**
 * The conversation a run of a session starts from: the user message and final answer of every
 * run of the same session and tenant that completed and was created before `run`, oldest first.
 * Runs that failed or were cancelled contribute nothing (they have no answer to carry on).
 *
 * Deterministic across replays: a queued run of a session is claimed only once every earlier
 * run of its session has ended (see `JournalStore.claimRuns`), and ended runs never change, so
 * every execution of `run` reads the same history, and the model step's input hash (which
 * covers the messages) matches the recorded one.
 */
export async function loadSessionHistory({
  store,
  run,
}: {
  store: Pick<JournalStore, 'listRuns'>;
  run: RunRecord;
}): Promise<Message[]> {
  return (await loadEarlierSessionRuns({ store, run })).flatMap((previous): Message[] => [
    { role: 'user', content: sessionMessageText(previous.input) },
    { role: 'assistant', content: sessionMessageText(previous.output) },
  ]);
}

/**
 * The runs a session's history is made of (see {@link loadSessionHistory}): those of the same
 * session and tenant that completed and were created before `run`, oldest first.
 */
export async function loadEarlierSessionRuns({
  store,
  run,
}: {
  store: Pick<JournalStore, 'listRuns'>;
  run: RunRecord;
}): Promise<RunRecord[]> {
  if (run.sessionId === null) return [];
  const earlier: RunRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listRuns({
      tenantId: run.tenantId,
      sessionId: run.sessionId,
      status: 'completed',
      createdBefore: run.createdAt,
      limit: PAGE_SIZE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    earlier.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  // listRuns pages newest first.
  return earlier.reverse();
}

/**
 * A run's input or output as a message's text: a string as is, anything else as canonical JSON
 * (jsonb reorders keys, so plain JSON.stringify could differ between reads).
 */
export function sessionMessageText(value: unknown): string {
  return typeof value === 'string' ? value : canonicalJson(value ?? null);
}
