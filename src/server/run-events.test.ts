import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lease, RunRecord, StepRecord, TextDeltaRecord } from '../journal/types.js';
import type { LanguageModel, ModelResponse } from '../model/model.js';
import { defineAgent } from '../runtime/agent.js';
import { createWorker } from '../runtime/worker.js';
import { silentLogger } from '../util/logger.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { runEvents } from './run-events.js';
import { runEndEventData, stepEventData } from './schemas.js';

/** Event ids: each step seq owns 2^20 ids, its start at the bottom and its end at the top. */
const STEP_IDS = 2 ** 20;
const start = (seq: number) => seq * STEP_IDS;
const slice = (seq: number, idx: number) => seq * STEP_IDS + idx + 1;
const tail = (seq: number) => seq * STEP_IDS + STEP_IDS - 2;
const end = (seq: number) => seq * STEP_IDS + STEP_IDS - 1;

interface ReceivedEvent {
  id: number;
  event: string;
  data: unknown;
}

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

async function submit(): Promise<string> {
  const response = await app.call('/v1/runs', {
    method: 'POST',
    body: JSON.stringify({ agent: 'echo', input: 'hi' }),
  });
  return ((await response.json()) as { id: string }).id;
}

/** Opens the events stream and collects events until it ends, `stopAfter` events arrived, or abort. */
async function readEvents(
  runId: string,
  {
    lastEventId,
    stopAfter,
    server = app,
  }: { lastEventId?: number; stopAfter?: number; server?: TestServer } = {},
) {
  const controller = new AbortController();
  const response = await server.call(`/v1/runs/${runId}/events`, {
    signal: controller.signal,
    headers: lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) },
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: ReceivedEvent[] = [];
  let raw = '';
  let buffer = '';
  const decoder = new TextDecoder();
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      raw += text;
      buffer += text;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = Object.fromEntries(
          block
            .split('\n')
            .filter((line) => !line.startsWith(':'))
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        ) as Record<string, string>;
        if (fields.id !== undefined)
          events.push({
            id: Number(fields.id),
            event: fields.event ?? '',
            data: JSON.parse(fields.data ?? 'null'),
          });
      }
      if (stopAfter !== undefined && events.length >= stopAfter) {
        controller.abort();
        break;
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return { events, raw };
}

function step(seq: number) {
  return {
    seq,
    parentSeq: null,
    kind: 'tool',
    name: `tool-${seq}`,
    inputHash: `h${seq}`,
    attempt: 1,
    startedAt: new Date(),
  };
}

async function endStep(lease: Lease, seq: number) {
  await app.store.completeStep(lease, {
    ...step(seq),
    status: 'completed',
    endedAt: new Date(),
    output: { secret: 'payload-text' },
    usage: { inputTokens: 1, outputTokens: 2 },
    costUsd: 0.5,
  });
}

async function endRun(lease: Lease, stepCount: number) {
  await app.store.finishRun(lease, {
    stopReason: 'completed',
    output: 'done',
    usage: { inputTokens: 1, outputTokens: 2 },
    costUsd: 0.5,
    stepCount,
  });
}

describe('GET /v1/runs/:id/events', () => {
  it('streams step-start, step-end and run-end from the journal while the run goes, then closes', async () => {
    const runId = await submit();
    const reading = readEvents(runId);
    const lease = await app.claim(runId);
    await app.store.startStep(lease, step(1));
    await new Promise((resolve) => setTimeout(resolve, 60));
    await endStep(lease, 1);
    await app.store.startStep(lease, step(2));
    await endStep(lease, 2);
    await endRun(lease, 2);
    const { events, raw } = await reading;
    expect(events.map((event) => `${event.id} ${event.event}`)).toEqual([
      `${start(1)} step-start`,
      `${end(1)} step-end`,
      `${start(2)} step-start`,
      `${end(2)} step-end`,
      `${start(3)} run-end`,
    ]);
    expect(stepEventData.parse(events[1]?.data)).toMatchObject({
      seq: 1,
      status: 'completed',
      cost_usd: 0.5,
    });
    expect(runEndEventData.parse(events[4]?.data)).toMatchObject({ status: 'completed', step_count: 2 });
    expect(raw).not.toContain('payload-text');
  });

  it('resumes with Last-Event-ID after a disconnect: no event lost, none repeated', async () => {
    const runId = await submit();
    const lease = await app.claim(runId);
    await app.store.startStep(lease, step(1));
    await endStep(lease, 1);
    const first = await readEvents(runId, { stopAfter: 1 });
    // One chunk may carry both events of step 1; either way the client saw part of the run.
    expect(first.events.map((event) => event.id)).toEqual(expect.arrayContaining([start(1)]));
    expect(first.events.length).toBeLessThanOrEqual(2);
    // More happens while the client is away.
    await app.store.startStep(lease, step(2));
    await endStep(lease, 2);
    await app.store.startStep(lease, step(3));
    const resumed = readEvents(runId, { lastEventId: first.events.at(-1)!.id });
    await endStep(lease, 3);
    await endRun(lease, 3);
    const second = await resumed;
    const all = [...first.events, ...second.events];
    const complete = await readEvents(runId);
    expect(all).toEqual(complete.events);
    expect(new Set(all.map((event) => event.id)).size).toBe(all.length);
    expect(all.map((event) => event.event)).toEqual([
      'step-start',
      'step-end',
      'step-start',
      'step-end',
      'step-start',
      'step-end',
      'run-end',
    ]);
    const afterEnd = await readEvents(runId, { lastEventId: complete.events.at(-1)!.id });
    expect(afterEnd.events).toEqual([]);
  });

  it('refuses a malformed Last-Event-ID', async () => {
    const runId = await submit();
    const response = await app.call(`/v1/runs/${runId}/events`, { headers: { 'last-event-id': 'abc' } });
    expect(response.status).toBe(400);
  });
});

describe('model text in the events stream, from the journal', () => {
  /** A model that streams its answer in pieces, `gapMs` apart (a stand-in for a real provider). */
  const slowModel = (pieces: string[], gapMs: number): LanguageModel => {
    const response = (): ModelResponse => ({
      message: { role: 'assistant', content: pieces.join('') },
      finishReason: 'stop',
      usage: { inputTokens: 5, outputTokens: pieces.length },
      modelId: 'slow',
    });
    return {
      provider: 'test',
      modelId: 'slow',
      generate: () => Promise.resolve(response()),
      async *stream() {
        for (const piece of pieces) {
          await new Promise((resolve) => setTimeout(resolve, gapMs));
          yield { type: 'text-delta', text: piece };
        }
        yield { type: 'finish', response: response() };
      },
    };
  };

  it('streams text-delta events live while the model answers; they add up to its text, also when resumed', async () => {
    const pieces = Array.from({ length: 12 }, (_, index) => `word${index} `);
    const agent = defineAgent({ name: 'slow', instructions: 'Talk.', model: slowModel(pieces, 40) });
    const live = await startTestServer({ agents: new Map([['slow', agent]]) });
    const worker = createWorker({
      store: live.store,
      agents: [agent],
      journalTextDeltas: true,
      pollMs: 20,
      logger: silentLogger,
    });
    try {
      const submitted = await live.call('/v1/runs', {
        method: 'POST',
        body: JSON.stringify({ agent: 'slow', input: 'hi' }),
      });
      const { id: runId } = (await submitted.json()) as { id: string };
      const reading = readEvents(runId, { server: live });
      worker.start();
      const { events } = await reading;
      const names = events.map((event) => event.event);
      expect(names[0]).toBe('step-start');
      expect(names.at(-2)).toBe('step-end');
      expect(names.at(-1)).toBe('run-end');
      const deltas = events.filter((event) => event.event === 'text-delta');
      // ~480 ms of streaming in 100 ms slices: several slices arrived before the step ended.
      expect(deltas.length).toBeGreaterThanOrEqual(3);
      const text = deltas.map((event) => (event.data as { text: string }).text).join('');
      expect(text).toBe(pieces.join(''));
      expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
      expect(events.map((event) => event.id)).toEqual(
        [...events.map((event) => event.id)].sort((a, b) => a - b),
      );

      // A client that saw the first two slices resumes and gets exactly the rest.
      const resumed = await readEvents(runId, { server: live, lastEventId: deltas[1]!.id });
      const resumedText = resumed.events
        .filter((event) => event.event === 'text-delta')
        .map((event) => (event.data as { text: string }).text)
        .join('');
      const firstTwo = deltas
        .slice(0, 2)
        .map((event) => (event.data as { text: string }).text)
        .join('');
      expect(firstTwo + resumedText).toBe(pieces.join(''));
    } finally {
      await worker.stop();
      await live.close();
    }
  });
});

describe('runEvents', () => {
  const run = (status: RunRecord['status']) =>
    ({
      id: 'run_1',
      status,
      stopReason: null,
      usage: { inputTokens: 0, outputTokens: 0 },
      costUsd: 0,
      stepCount: 0,
      error: null,
    }) as RunRecord;
  const stepRecord = (seq: number, status: StepRecord['status']) =>
    ({
      runId: 'run_1',
      seq,
      kind: 'tool',
      name: 't',
      status,
      attempt: 1,
      startedAt: new Date(0),
      endedAt: null,
      usage: null,
      costUsd: null,
      error: null,
    }) as unknown as StepRecord;

  it('holds back a later step that ended before an earlier one, so ids only grow', () => {
    const steps = [stepRecord(1, 'started'), stepRecord(2, 'completed')];
    expect(runEvents(run('running'), steps, -1).map((event) => event.id)).toEqual([start(1)]);
    const later = [stepRecord(1, 'completed'), stepRecord(2, 'completed')];
    expect(runEvents(run('running'), later, start(1)).map((event) => event.id)).toEqual([
      end(1),
      start(2),
      end(2),
    ]);
  });

  it('at the end, sends every remaining event and run-end last', () => {
    const steps = [stepRecord(0, 'started'), stepRecord(1, 'completed')];
    expect(runEvents(run('failed'), steps, -1).map((event) => `${event.id} ${event.event}`)).toEqual([
      `${start(0)} step-start`,
      `${start(1)} step-start`,
      `${end(1)} step-end`,
      `${start(2)} run-end`,
    ]);
    expect(runEvents(run('cancelled'), [], -1).map((event) => event.id)).toEqual([start(0)]);
  });

  describe('text deltas', () => {
    const delta = (seq: number, idx: number, text: string, fence = 1, attempt = 1): TextDeltaRecord => ({
      runId: 'run_1',
      seq,
      idx,
      fence,
      attempt,
      name: idx === 0 ? 'builtin:rule' : null,
      text,
      createdAt: new Date(0),
    });
    const modelStep = (seq: number, status: StepRecord['status']) =>
      ({ ...stepRecord(seq, status), kind: 'model', name: 'builtin:rule' }) as StepRecord;
    const texts = (events: ReturnType<typeof runEvents>) =>
      events.filter((event) => event.event === 'text-delta').map((event) => event.data.text as string);

    it('streams a model step before it is journaled: its first slice stands for its start', () => {
      const live = runEvents(run('running'), [stepRecord(0, 'completed')], -1, {
        deltas: [delta(1, 0, 'Hel'), delta(1, 1, 'lo')],
      });
      expect(live.map((event) => `${event.id} ${event.event}`)).toEqual([
        `${start(0)} step-start`,
        `${end(0)} step-end`,
        `${start(1)} step-start`,
        `${slice(1, 0)} text-delta`,
        `${slice(1, 1)} text-delta`,
      ]);
      expect(live[2]!.data).toMatchObject({ seq: 1, kind: 'model', name: 'builtin:rule', status: 'started' });
      expect(live[3]!.data).toEqual({ run_id: 'run_1', seq: 1, execution: 1001, text: 'Hel' });
    });

    it('at the step end sends the text the slices did not carry, so the deltas add up to the text', () => {
      const steps = [modelStep(1, 'completed')];
      const deltas = [delta(1, 0, 'Hel'), delta(1, 1, 'lo')];
      const ended = runEvents(run('running'), steps, slice(1, 1), {
        deltas,
        texts: new Map([[1, 'Hello world']]),
      });
      expect(ended.map((event) => `${event.id} ${event.event}`)).toEqual([
        `${tail(1)} text-delta`,
        `${end(1)} step-end`,
      ]);
      expect(ended[0]!.data).toEqual({ run_id: 'run_1', seq: 1, execution: 1001, text: ' world' });
      // From scratch: the same text, in the same events.
      const all = runEvents(run('running'), steps, -1, { deltas, texts: new Map([[1, 'Hello world']]) });
      expect(texts(all).join('')).toBe('Hello world');
      // A step faster than one slice: its whole text at its end; a step without text: nothing.
      const fast = runEvents(run('running'), steps, -1, { texts: new Map([[1, 'Hi']]) });
      expect(texts(fast)).toEqual(['Hi']);
      expect(texts(runEvents(run('running'), steps, -1, { texts: new Map([[1, '']]) }))).toEqual([]);
      // Slices that carried it all: no tail.
      const exact = runEvents(run('running'), steps, -1, { deltas, texts: new Map([[1, 'Hello']]) });
      expect(texts(exact)).toEqual(['Hel', 'lo']);
    });

    it('tells executions apart, and sends the journaled text whole when the slices do not match it', () => {
      const steps = [modelStep(1, 'completed')];
      // The first claim's call was retried once; then a crash, and the second claim streamed again.
      const deltas = [delta(1, 0, 'Hel', 1), delta(1, 1, 'Ho', 1, 2), delta(1, 2, 'Hi', 2)];
      const events = runEvents(run('running'), steps, -1, { deltas, texts: new Map([[1, 'Hi there']]) });
      expect(
        events
          .filter((event) => event.event === 'text-delta')
          .map((event) => [event.data.execution, event.data.text]),
      ).toEqual([
        [1001, 'Hel'],
        [1002, 'Ho'],
        [2001, 'Hi'],
        [2001, ' there'],
      ]);
      const mismatch = runEvents(run('running'), steps, -1, {
        deltas: [delta(1, 0, 'Bonjour', 2)],
        texts: new Map([[1, 'Hi there']]),
      });
      expect(mismatch.find((event) => event.id === tail(1))?.data).toMatchObject({
        execution: 0,
        text: 'Hi there',
      });
    });

    it('counts a step that only has slices when placing run-end', () => {
      const events = runEvents(run('cancelled'), [stepRecord(0, 'completed')], -1, {
        deltas: [delta(1, 0, 'Hel')],
      });
      expect(events.at(-1)).toMatchObject({ id: start(2), event: 'run-end' });
    });
  });

  it('sends approval steps as approval-request and approval-decision under the step ids', () => {
    const approvalStep = (status: StepRecord['status']) =>
      ({
        ...stepRecord(1, status),
        kind: 'approval',
        name: 'transfer',
        meta: { approvalId: 'apr_1' },
      }) as StepRecord;
    const waiting = runEvents(
      run('awaiting_approval'),
      [stepRecord(0, 'completed'), approvalStep('started')],
      -1,
    );
    expect(waiting.map((event) => `${event.id} ${event.event}`)).toEqual([
      `${start(0)} step-start`,
      `${end(0)} step-end`,
      `${start(1)} approval-request`,
    ]);
    expect(waiting[2]!.data).toMatchObject({ approval_id: 'apr_1', tool: 'transfer', expires_at: null });
    // Cancelled while waiting: the request stays undecided and run-end follows.
    const cancelled = runEvents(run('cancelled'), [approvalStep('started')], end(0));
    expect(cancelled.map((event) => `${event.id} ${event.event}`)).toEqual([
      `${start(1)} approval-request`,
      `${start(2)} run-end`,
    ]);
    const decided = runEvents(run('running'), [approvalStep('completed')], start(1));
    expect(decided.map((event) => `${event.id} ${event.event}`)).toEqual([`${end(1)} approval-decision`]);
    expect(decided[0]!.data).toMatchObject({ approval_id: 'apr_1', decision: null, decided_by: null });
  });
});

describe('events stream lifecycle', () => {
  it('sends heartbeat comments, and stops polling when the client goes away', async () => {
    let loads = 0;
    const counted = await startTestServer({
      eventHeartbeatMs: 30,
      eventPollIntervalMs: 10,
      wrapStore: (store) => ({
        ...store,
        loadSteps: (...args) => {
          loads += 1;
          return store.loadSteps(...args);
        },
      }),
    });
    try {
      const created = await counted.call('/v1/runs', {
        method: 'POST',
        body: JSON.stringify({ agent: 'echo', input: 'hi' }),
      });
      const { id } = (await created.json()) as { id: string };
      const controller = new AbortController();
      const response = await counted.call(`/v1/runs/${id}/events`, { signal: controller.signal });
      const reader = response.body!.getReader();
      let text = '';
      while (!text.includes(': heartbeat')) text += new TextDecoder().decode((await reader.read()).value);
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const afterClose = loads;
      expect(afterClose).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(loads).toBe(afterClose);
    } finally {
      await counted.close();
    }
  });
});
