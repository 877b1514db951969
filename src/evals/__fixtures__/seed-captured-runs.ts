import type { JournalStore } from '../../journal/store.js';
import type { RunRecord, StopReason } from '../../journal/types.js';
import type { SqlClient } from '../../journal/sql-client.js';
import { createRunFeedback } from '../../feedback/feedback.js';
import { createRunOutcomes } from '../../feedback/outcomes.js';
import type { FakeClock } from '../../testing/fake-clock.js';

/** A tool call a seeded run made, with what it returned (or how it failed). */
export interface SeededToolCall {
  name: string;
  arguments: Record<string, unknown>;
  output?: unknown;
  error?: string;
  effect?: 'none' | 'write' | 'destructive';
}

/**
 * Writes an ended run the way the agent loop journals one: a model step asking for the tool
 * calls, one tool step per call (with its `toolCallId` and `effect`), then the run's end.
 */
export async function seedRun(
  store: JournalStore,
  tick: () => Promise<void>,
  {
    agent,
    input,
    output,
    tools = [],
    stopReason = 'completed',
    sessionId,
    tenantId,
    trigger,
  }: {
    agent: string;
    input: unknown;
    output: unknown;
    tools?: SeededToolCall[];
    stopReason?: StopReason;
    sessionId?: string;
    tenantId?: string;
    trigger?: string;
  },
): Promise<RunRecord> {
  await tick();
  const { run } = await store.createRun({
    agent,
    input,
    ...(sessionId ? { sessionId } : {}),
    ...(tenantId ? { tenantId } : {}),
    ...(trigger ? { trigger } : {}),
  });
  const [claimed] = await store.claimRuns({ owner: 'seed', limit: 1, leaseMs: 60_000, ids: [run.id] });
  const lease = { runId: run.id, owner: 'seed', fence: claimed!.fence };
  const at = run.createdAt;
  const common = { parentSeq: null, attempt: 1, startedAt: at, endedAt: at };
  await store.completeStep(lease, {
    ...common,
    seq: 0,
    kind: 'model',
    name: 'builtin:seed',
    inputHash: `model-${run.id}`,
    status: 'completed',
    output: {
      message: {
        role: 'assistant',
        content: '',
        toolCalls: tools.map((call, index) => ({
          id: `call_${index}`,
          name: call.name,
          arguments: JSON.stringify(call.arguments),
        })),
      },
    },
  });
  for (const [index, call] of tools.entries()) {
    const step = {
      ...common,
      seq: index + 1,
      parentSeq: 0,
      kind: 'tool' as const,
      name: call.name,
      inputHash: `tool-${run.id}-${index}`,
      meta: { toolCallId: `call_${index}`, effect: call.effect ?? 'none' },
    };
    await store.completeStep(
      lease,
      call.error === undefined
        ? { ...step, status: 'completed', output: call.output ?? null }
        : {
            ...step,
            status: 'failed',
            error: { code: 'tool_failed', message: call.error, fault: 'tool', retryable: false },
          },
    );
  }
  return store.finishRun(lease, {
    stopReason,
    output,
    ...(stopReason === 'error'
      ? { error: { code: 'model_failed', message: 'boom', fault: 'provider', retryable: false } }
      : {}),
    usage: { inputTokens: 10, outputTokens: 5 },
    costUsd: 0.001,
    stepCount: tools.length + 1,
  });
}

/** A rejected answer long enough for `not_contains`, with text YAML comments must survive. */
export const ROME_ANSWER =
  '# Rome in 2 days\r\nDay 1: Colosseum, Forum # busy\n---\nDay 2: Vatican \u0007 "queues": long';

/** The runs the capture tests read; see the comments for what each is for. */
export interface SeededRuns {
  quiet: RunRecord;
  paris: RunRecord;
  rome: RunRecord;
  safe: RunRecord;
  failed: RunRecord;
  otherAgent: RunRecord;
  evalRun: RunRecord;
}

/**
 * Seeds the capture scenario for agent `travel` (oldest first): a session's first exchange
 * (`quiet`, no verdict), its follow-up that booked a hotel and was committed (`paris`), a
 * rejected answer with a thumbs down (`rome`), a short answer scored 0.2 (`safe`), a failed run
 * nobody judged (`failed`), a committed run of another agent, and a committed eval run.
 */
export async function seedCaptureScenario(
  store: JournalStore,
  client: SqlClient,
  { clock, tenantId }: { clock?: FakeClock; tenantId?: string } = {},
): Promise<SeededRuns> {
  const outcomes = createRunOutcomes({ client, ...(clock ? { clock } : {}) });
  const feedback = createRunFeedback({ client, ...(clock ? { clock } : {}) });
  // Runs must be created at distinct times: session history and the newest-first order rely on it.
  const tick = clock
    ? async () => clock.advance(1_000)
    : () => new Promise<void>((done) => setTimeout(done, 5));
  const decide = (run: RunRecord, status: 'committed' | 'rejected') =>
    outcomes.record({ runId: run.id, tenantId: run.tenantId, status, value: null, decidedByKey: 'key_test' });
  const note = (run: RunRecord, given: { thumbs?: 'up' | 'down'; score?: number; comment?: string }) =>
    feedback.add({ runId: run.id, tenantId: run.tenantId, createdBy: 'key:test', ...given });

  const quiet = await seedRun(store, tick, {
    tenantId,
    agent: 'travel',
    input: 'I like quiet places.',
    output: 'Noted: quiet places.',
    sessionId: 'sess_1',
  });
  const paris = await seedRun(store, tick, {
    tenantId,
    agent: 'travel',
    input: '3 days in Paris',
    output: 'Day 1: Louvre. Day 2: Marais. Day 3: Montmartre. Booked H-1.',
    sessionId: 'sess_1',
    tools: [
      { name: 'get_weather', arguments: { city: 'Paris', days: 3 }, output: { temp_c: 18 } },
      {
        name: 'find_hotels',
        arguments: { city: 'Paris', tags: ['quiet'], filter: { contains: 'spa' } },
        output: [{ id: 'H-1' }],
      },
      {
        name: 'book_hotel',
        arguments: { hotel: 'H-1', nights: 3 },
        output: { confirmation: 'C-42' },
        effect: 'write',
      },
    ],
  });
  await decide(paris, 'committed');
  await note(paris, { thumbs: 'up' });
  const rome = await seedRun(store, tick, {
    tenantId,
    agent: 'travel',
    input: 'Plan 2 days in Rome',
    output: ROME_ANSWER,
    tools: [{ name: 'get_weather', arguments: { city: 'Rome' }, error: 'weather service down' }],
  });
  await decide(rome, 'rejected');
  await note(rome, { thumbs: 'down', comment: 'Too touristy:\nI asked for quiet places.' });
  const safe = await seedRun(store, tick, {
    tenantId, agent: 'travel', input: 'Is Lisbon safe?', output: 'Yes.' });
  await note(safe, { score: 0.2, comment: 'No nuance.' });
  const failed = await seedRun(store, tick, {
    tenantId,
    agent: 'travel',
    input: 'Plan Oslo',
    output: null,
    stopReason: 'error',
  });
  const otherAgent = await seedRun(store, tick, {
    tenantId, agent: 'support', input: 'Refund?', output: 'Done.' });
  await decide(otherAgent, 'committed');
  const evalRun = await seedRun(store, tick, {
    tenantId,
    agent: 'travel',
    input: '3 days in Paris',
    output: 'From an eval.',
    trigger: 'eval',
  });
  await decide(evalRun, 'committed');
  return { quiet, paris, rome, safe, failed, otherAgent, evalRun };
}
