import { describe, expect, it } from 'vitest';
import { renderEvalTable, renderHtml, renderJunit } from './eval-report.js';
import type { EvalView } from './eval-view.js';

const HOSTILE = `<script>alert("x")</script> & 'quotes' \u0007`;

function view(): EvalView {
  return {
    id: 'eval_1',
    suite: `suite ${HOSTILE}`,
    agent: 'planner',
    prompt_version: 'v1',
    status: 'completed',
    trials: 1,
    concurrency: 1,
    case_count: 3,
    pass_rate: 1 / 3,
    passed: 1,
    failed: 1,
    errored: 1,
    total: 3,
    cost_usd: 0.003,
    judge_cost_usd: 0,
    latency_ms: { mean: 10, p50: 10, p95: 12 },
    k: 1,
    pass_at_k: 1 / 3,
    pass_hat_k: 1 / 3,
    created_by: null,
    created_at: '2026-12-06T06:00:00.000Z',
    ended_at: '2026-12-06T06:00:01.000Z',
    options: {},
    cases: [
      {
        id: 'ok',
        trial: 1,
        verdict: 'pass',
        score: 1,
        run_id: 'run_1',
        cost_usd: 0.001,
        judge_cost_usd: 0,
        latency_ms: 10,
        stop_reason: 'completed',
        tags: [],
        scores: [{ scorer: 'contains', pass: true, score: 1, reason: 'fine' }],
      },
      {
        id: `bad ${HOSTILE}`,
        trial: 1,
        verdict: 'fail',
        score: 0,
        run_id: 'run_2',
        cost_usd: 0.001,
        judge_cost_usd: 0,
        latency_ms: 10,
        stop_reason: 'completed',
        tags: [],
        scores: [{ scorer: 'contains', pass: false, score: 0, reason: `output lacks ${HOSTILE}` }],
      },
      {
        id: 'judge',
        trial: 1,
        verdict: 'error',
        score: 0,
        run_id: 'run_3',
        cost_usd: 0.001,
        judge_cost_usd: 0,
        latency_ms: 12,
        stop_reason: 'completed',
        tags: [],
        scores: [],
        error: { code: 'judge_failed', message: 'judge down' },
      },
    ],
  };
}

describe('eval reports', () => {
  it('escapes every value in the HTML report, which carries no script', () => {
    const html = renderHtml(view());
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;');
    expect(html).toContain('<tr class="error"><td>error</td><td>judge</td>');
    expect(html).toContain('judge_failed');
  });

  it('writes JUnit with a failure for fail and an error for error, escaped and free of control characters', () => {
    const xml = renderJunit(view());
    expect(xml).toContain(
      '<testsuite name="suite &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;quotes&apos; "',
    );
    expect(xml).toContain('tests="3" failures="1" errors="1"');
    expect(xml).toMatch(/<testcase classname="[^"]*" name="ok" time="0.010"\/>/);
    expect(xml).toMatch(/<failure message="contains: output lacks &lt;script&gt;/);
    expect(xml).toMatch(/<error message="judge_failed: judge down">/);
    expect(xml).not.toContain('\u0007');
  });

  it('prints the table with the first failing reason of each case', () => {
    const table = renderEvalTable(view());
    expect(table).toMatch(/✗ fail +bad <script>/);
    expect(table).toMatch(/! error +judge .*judge_failed: judge down/);
    expect(table).toContain('pass rate 33.3% · 1 passed · 1 failed · 1 errored · of 3');
  });
});
