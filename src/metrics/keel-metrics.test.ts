import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { CallMeta } from '../gateway/gateway-types.js';
import type { SqlExecutor } from '../journal/sql-client.js';
import type { RunRecord, StepRecord } from '../journal/types.js';
import { parseExposition } from './__fixtures__/parse-exposition.js';
import { createKeelMetrics } from './keel-metrics.js';
import { createLabelGuard, OTHER_LABEL_VALUE } from './label-guard.js';

const call = (route: string, outcome: CallMeta['outcome'] = 'ok'): CallMeta => ({
  route,
  deployment: `${route}-east`,
  provider: 'openai',
  model: 'gpt-4o-mini',
  attempts: 1,
  cached: false,
  latencyMs: 120,
  overheadMs: 0.4,
  outcome,
});

/** A database client that answers the gauges' query as told, counting the queries it got. */
function scriptedClient(answer: () => Promise<unknown>): SqlExecutor & { queries: number } {
  const client = {
    queries: 0,
    query<Row>() {
      client.queries++;
      return answer() as Promise<{ rows: Row[]; rowCount: number }>;
    },
    exec: async () => {},
  };
  return client;
}

const scrape = async (metrics: ReturnType<typeof createKeelMetrics>) =>
  parseExposition((await metrics.scrape()).text);

describe('createKeelMetrics', () => {
  it('caps each label: values past the cap are counted as other', async () => {
    const metrics = createKeelMetrics({ maxLabelValues: 2, processMetrics: false });
    for (const route of ['a', 'b', 'c', 'd', 'a']) metrics.gatewayCall(call(route));
    metrics.gatewayCall(call('c', 'error'));
    const exposition = await scrape(metrics);
    const value = (route: string, deployment: string, outcome = 'ok') =>
      exposition.value('keel_gateway_requests_total', { route, deployment, outcome });
    expect(value('a', 'a-east')).toBe(2);
    expect(value('b', 'b-east')).toBe(1);
    expect(value(OTHER_LABEL_VALUE, OTHER_LABEL_VALUE)).toBe(2);
    expect(value(OTHER_LABEL_VALUE, OTHER_LABEL_VALUE, 'error')).toBe(1);
    expect(exposition.family('keel_gateway_requests_total').metrics).toHaveLength(4);
    const [overhead] = exposition.family('keel_gateway_overhead_seconds', 'HISTOGRAM').metrics;
    expect(overhead).toMatchObject({ count: '6' });
    expect(Number(overhead?.sum)).toBeCloseTo(0.0024, 10);
  });

  it('keeps its registry to itself: two instances and the global registry stay apart', async () => {
    const first = createKeelMetrics({ processMetrics: false });
    const second = createKeelMetrics({ processMetrics: false });
    first.gatewayCall(call('a'));
    expect(
      (await scrape(first)).value('keel_gateway_requests_total', {
        route: 'a',
        deployment: 'a-east',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect((await scrape(second)).family('keel_gateway_requests_total').metrics).toHaveLength(0);
    expect(globalRegistry.getSingleMetric('keel_gateway_requests_total')).toBeUndefined();
  });

  it('reads the run gauges with one query per scrape', async () => {
    const client = scriptedClient(async () => ({
      rows: [{ queued: 4, running: 2, waiting: 1 }],
      rowCount: 1,
    }));
    const metrics = createKeelMetrics({ client, processMetrics: false });
    const exposition = await scrape(metrics);
    expect(exposition.value('keel_queue_depth')).toBe(4);
    expect(exposition.value('keel_runs_running')).toBe(2);
    expect(exposition.value('keel_runs_waiting')).toBe(1);
    expect(exposition.value('keel_scrape_database_up')).toBe(1);
    expect(client.queries).toBe(1);
  });

  it('answers a scrape while the database hangs: gauges NaN, database_up 0, no query piled up', async () => {
    let release: (() => void) | undefined;
    let hang = true;
    const client = scriptedClient(() =>
      hang
        ? new Promise((resolve) => {
            release = () => resolve({ rows: [{ queued: 9, running: 9, waiting: 9 }], rowCount: 1 });
          })
        : Promise.resolve({ rows: [{ queued: 7, running: 0, waiting: 0 }], rowCount: 1 }),
    );
    const metrics = createKeelMetrics({ client, databaseTimeoutMs: 20, processMetrics: false });
    for (let scrapeIndex = 0; scrapeIndex < 3; scrapeIndex++) {
      const exposition = await scrape(metrics);
      expect(exposition.value('keel_queue_depth')).toBeNaN();
      expect(exposition.value('keel_runs_running')).toBeNaN();
      expect(exposition.value('keel_scrape_database_up')).toBe(0);
    }
    // The hung query is shared by every later scrape until it answers.
    expect(client.queries).toBe(1);
    hang = false;
    release?.();
    await new Promise((resolve) => setImmediate(resolve));
    const exposition = await scrape(metrics);
    expect(client.queries).toBe(2);
    expect(exposition.value('keel_queue_depth')).toBe(7);
    expect(exposition.value('keel_scrape_database_up')).toBe(1);
  });

  it('answers a scrape when the database fails', async () => {
    const client = scriptedClient(() => Promise.reject(new Error('connection refused')));
    const metrics = createKeelMetrics({ client, processMetrics: false });
    const exposition = await scrape(metrics);
    expect(exposition.value('keel_queue_depth')).toBeNaN();
    expect(exposition.value('keel_scrape_database_up')).toBe(0);
  });

  it('reads the dropped-span count at each scrape (0 by default; a throwing source keeps the last)', async () => {
    expect(
      (await scrape(createKeelMetrics({ processMetrics: false }))).value('keel_otel_dropped_spans_total'),
    ).toBe(0);
    let dropped: number | Error = 5;
    const metrics = createKeelMetrics({
      processMetrics: false,
      droppedSpans: () => {
        if (dropped instanceof Error) throw dropped;
        return dropped;
      },
    });
    expect((await scrape(metrics)).value('keel_otel_dropped_spans_total')).toBe(5);
    dropped = 12;
    expect((await scrape(metrics)).value('keel_otel_dropped_spans_total')).toBe(12);
    dropped = new Error('exporter gone');
    expect((await scrape(metrics)).value('keel_otel_dropped_spans_total')).toBe(12);
  });

  it('reports each watched breaker, open or half-open as 1, until unwatched', async () => {
    const metrics = createKeelMetrics({ processMetrics: false });
    const unwatch = metrics.watchBreakers(() => [
      { deployment: 'east', state: 'open', consecutiveFailures: 5, retryAt: 1 },
      { deployment: 'west', state: 'closed', consecutiveFailures: 0 },
      { deployment: 'north', state: 'half-open', consecutiveFailures: 5 },
    ]);
    const exposition = await scrape(metrics);
    expect(exposition.value('keel_gateway_breaker_open', { deployment: 'east' })).toBe(1);
    expect(exposition.value('keel_gateway_breaker_open', { deployment: 'west' })).toBe(0);
    expect(exposition.value('keel_gateway_breaker_open', { deployment: 'north' })).toBe(1);
    unwatch();
    expect((await scrape(metrics)).family('keel_gateway_breaker_open').metrics).toHaveLength(0);
  });
});

describe('guard and governance outcomes', () => {
  it('counts guard verdicts by guard, stage and action, and refused tool calls by why', async () => {
    const metrics = createKeelMetrics({ processMetrics: false });
    const run = { id: 'run_1', agent: 'planner', fence: 1 } as RunRecord;
    const step = (kind: string, name: string, meta: Record<string, unknown>, code?: string) =>
      ({
        runId: 'run_1',
        seq: 1,
        parentSeq: null,
        kind,
        name,
        inputHash: 'h',
        attempt: 1,
        status: code ? 'failed' : 'completed',
        startedAt: new Date(0),
        endedAt: new Date(5),
        meta,
        usage: null,
        costUsd: null,
        outputRef: null,
        error: code ? { code, message: code, fault: 'caller', retryable: false } : null,
        priorExecutions: [],
      }) as unknown as StepRecord;
    metrics.telemetry.stepCommitted!(run, step('guard', 'pii', { stage: 'tool_output', action: 'redact' }));
    metrics.telemetry.stepCommitted!(run, step('guard', 'pii', { stage: 'tool_output', action: 'redact' }));
    metrics.telemetry.stepCommitted!(run, step('guard', 'injection', { stage: 'input', action: 'odd' }));
    metrics.telemetry.stepCommitted!(run, step('tool', 'weather', {}, 'tool_disabled'));
    metrics.telemetry.stepCommitted!(run, step('tool', 'send_email', {}, 'tool_not_allowed'));
    const exposition = await scrape(metrics);
    expect(
      exposition.value('keel_guard_verdicts_total', { guard: 'pii', stage: 'tool_output', action: 'redact' }),
    ).toBe(2);
    expect(
      exposition.value('keel_guard_verdicts_total', {
        guard: 'injection',
        stage: 'input',
        action: 'unknown',
      }),
    ).toBe(1);
    expect(exposition.value('keel_tool_calls_total', { tool: 'weather', outcome: 'disabled' })).toBe(1);
    expect(exposition.value('keel_tool_calls_total', { tool: 'send_email', outcome: 'not_allowed' })).toBe(1);
  });
});

describe('createLabelGuard', () => {
  it('passes the first values, folds the rest into other, and cuts long ones', () => {
    const guard = createLabelGuard(2);
    expect(guard('a')).toBe('a');
    expect(guard('x'.repeat(500))).toBe('x'.repeat(100));
    expect(guard('x'.repeat(300))).toBe('x'.repeat(100));
    expect(guard('b')).toBe(OTHER_LABEL_VALUE);
    expect(guard('a')).toBe('a');
  });
});

describe('histogram cells', () => {
  it('format like prom-client histograms: cumulative buckets by le, +Inf, sum and count', async () => {
    const metrics = createKeelMetrics({ processMetrics: false });
    for (const overheadMs of [0.05, 0.3, 0.3, 2, 500]) metrics.gatewayCall({ ...call('a'), overheadMs });
    const [overhead] = (await scrape(metrics)).family('keel_gateway_overhead_seconds', 'HISTOGRAM').metrics;
    expect(overhead?.buckets).toMatchObject({
      '0.0001': '1',
      '0.0005': '3',
      '0.001': '3',
      '0.0025': '4',
      '0.1': '4',
      '+Inf': '5',
    });
    expect(overhead?.count).toBe('5');
    expect(Number(overhead?.sum)).toBeCloseTo(0.50265, 10);
  });
});
