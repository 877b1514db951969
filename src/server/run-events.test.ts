import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lease, RunRecord, StepRecord } from '../journal/types.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { runEvents } from './run-events.js';
import { runEndEventData, stepEventData } from './schemas.js';

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
  { lastEventId, stopAfter }: { lastEventId?: number; stopAfter?: number } = {},
) {
  const controller = new AbortController();
  const response = await app.call(`/v1/runs/${runId}/events`, {
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
      '3 step-start',
      '4 step-end',
      '5 step-start',
      '6 step-end',
      '7 run-end',
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
    expect(first.events.map((event) => event.id)).toEqual(expect.arrayContaining([3]));
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
    expect(runEvents(run('running'), steps, -1).map((event) => event.id)).toEqual([3]);
    const later = [stepRecord(1, 'completed'), stepRecord(2, 'completed')];
    expect(runEvents(run('running'), later, 3).map((event) => event.id)).toEqual([4, 5, 6]);
  });

  it('at the end, sends every remaining event and run-end last', () => {
    const steps = [stepRecord(0, 'started'), stepRecord(1, 'completed')];
    expect(runEvents(run('failed'), steps, -1).map((event) => `${event.id}${event.event}`)).toEqual([
      '1step-start',
      '3step-start',
      '4step-end',
      '5run-end',
    ]);
    expect(runEvents(run('cancelled'), [], -1).map((event) => event.id)).toEqual([1]);
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
    expect(waiting.map((event) => `${event.id}${event.event}`)).toEqual([
      '1step-start',
      '2step-end',
      '3approval-request',
    ]);
    expect(waiting[2]!.data).toMatchObject({ approval_id: 'apr_1', tool: 'transfer', expires_at: null });
    // Cancelled while waiting: the request stays undecided and run-end follows.
    const cancelled = runEvents(run('cancelled'), [approvalStep('started')], 2);
    expect(cancelled.map((event) => `${event.id}${event.event}`)).toEqual(['3approval-request', '5run-end']);
    const decided = runEvents(run('running'), [approvalStep('completed')], 3);
    expect(decided.map((event) => `${event.id}${event.event}`)).toEqual(['4approval-decision']);
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
