import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createRunFeedback } from '../feedback/feedback.js';
import { createRunOutcomes } from '../feedback/outcomes.js';
import { createFakeClock } from '../testing/fake-clock.js';
import { ROME_ANSWER, seedCaptureScenario, type SeededRuns } from './__fixtures__/seed-captured-runs.js';
import {
  captureCases,
  createJournalCaptureSource,
  renderCapturedSuite,
  type CaptureOptions,
} from './capture.js';
import { scoreCase } from './score-case.js';
import { createScorerContext, type ScoredStep } from './scorer.js';
import { parseSuite, type EvalCase } from './suite.js';

let store: JournalStore;
let client: SqlClient;
let runs: SeededRuns;

beforeAll(async () => {
  const clock = createFakeClock();
  ({ store, client } = await openStore({ dataDir: 'memory://', clock }));
  runs = await seedCaptureScenario(store, client, { clock });
}, 60_000);
afterAll(() => store?.close());

const capture = (options: Partial<CaptureOptions> = {}) =>
  captureCases({
    source: createJournalCaptureSource({
      store,
      runOutcomes: createRunOutcomes({ client }),
      runFeedback: createRunFeedback({ client }),
    }),
    agent: 'travel',
    limit: 50,
    ...options,
  });

/** Parses a rendered suite back, as `keel eval` would read the file. */
function roundTrip(cases: Awaited<ReturnType<typeof capture>>['cases']): EvalCase[] {
  const text = renderCapturedSuite({ agent: 'travel', cases, capturedAt: new Date('2026-02-01T00:00:00Z') });
  return parseSuite({ text, file: 'captured.yaml' }).cases;
}

describe('captureCases', () => {
  it("takes the agent's ended production runs, newest first, and skips what it cannot use", async () => {
    const { cases, scanned } = await capture();
    // `failed` was neither accepted nor flagged; the other agent's and the eval run are not read.
    expect(cases.map((each) => each.id)).toEqual([runs.safe.id, runs.rome.id, runs.paris.id, runs.quiet.id]);
    expect(scanned).toBe(5);
    expect(cases.every((each) => each.id.startsWith('run_') && each.tags.includes('captured'))).toBe(true);
  });

  it('pins a committed run: session history, strict trajectory with exact arguments, stop reason', async () => {
    const { cases } = await capture({ outcome: 'committed' });
    expect(cases).toHaveLength(1);
    const [paris] = cases;
    expect(paris).toMatchObject({
      id: runs.paris.id,
      input: '3 days in Paris',
      session: [
        { role: 'user', content: 'I like quiet places.' },
        { role: 'assistant', content: 'Noted: quiet places.' },
      ],
      // The booking is answered from the recording: evaluating the case books nothing.
      tools: { book_hotel: { output: { confirmation: 'C-42' } } },
      tags: ['captured', 'outcome:committed'],
      regression: false,
      expect: [
        {
          trajectory: {
            mode: 'strict',
            steps: [
              { name: 'get_weather', arguments: { city: 'Paris', days: 3 } },
              // `filter` looks like a matcher ({ contains }) and cannot be quoted: left unchecked.
              { name: 'find_hotels', arguments: { city: 'Paris', tags: ['quiet'] } },
              { name: 'book_hotel', arguments: { hotel: 'H-1', nights: 3 } },
            ],
          },
        },
        { stop_reason: 'completed' },
      ],
    });
    expect(paris!.comment).toContain(`Captured from run ${runs.paris.id}`);
    expect(paris!.comment).toContain('Feedback: thumbs up');
  });

  it('makes a rejected run a regression case that fails on the rejected answer and passes on another', async () => {
    const { cases } = await capture({ outcome: 'rejected' });
    expect(cases.map((each) => each.id)).toEqual([runs.rome.id]);
    const [rome] = cases;
    expect(rome).toMatchObject({
      tags: ['captured', 'regression', 'outcome:rejected', 'feedback:negative'],
      regression: true,
      expect: [{ stop_reason: 'completed' }, { not_contains: { value: ROME_ANSWER.trim() } }],
    });
    expect(rome!.comment).toContain('Feedback: thumbs down, "Too touristy:\\nI asked for quiet places."');
    expect(rome!.comment).toContain('Tool calls: get_weather({"city":"Rome"})');

    const [parsed] = roundTrip(cases);
    const verdict = (output: string) =>
      scoreCase(
        parsed!,
        createScorerContext({ evalCase: parsed!, output, stopReason: 'completed', steps: [] }),
      );
    expect((await verdict(ROME_ANSWER)).verdict).toBe('fail');
    expect((await verdict(`Here is my plan:\n${ROME_ANSWER}`)).verdict).toBe('fail');
    expect((await verdict('Rome, quietly: Day 1 Aventine, Day 2 Trastevere.')).verdict).toBe('pass');
  });

  it('makes negative feedback a regression case; a short answer is refused only word for word', async () => {
    const { cases } = await capture({ feedback: 'negative' });
    expect(cases.map((each) => each.id)).toEqual([runs.safe.id, runs.rome.id]);
    const safe = roundTrip(cases).find((each) => each.id === runs.safe.id)!;
    expect(safe.tags).toEqual(['captured', 'regression', 'feedback:negative']);
    const verdict = async (output: string) =>
      (
        await scoreCase(
          safe,
          createScorerContext({ evalCase: safe, output, stopReason: 'completed', steps: [] }),
        )
      ).verdict;
    expect(await verdict('Yes.')).toBe('fail');
    expect(await verdict('  Yes.\n')).toBe('fail');
    expect(await verdict('Yes. Mostly, but watch for pickpockets on tram 28.')).toBe('pass');
  });

  it('honours the limit, the agent and the tenant', async () => {
    expect((await capture({ limit: 2 })).cases.map((each) => each.id)).toEqual([runs.safe.id, runs.rome.id]);
    const support = await capture({ agent: 'support' });
    expect(support.cases.map((each) => each.id)).toEqual([runs.otherAgent.id]);
    expect((await capture({ tenantId: 'elsewhere' })).cases).toEqual([]);
    await expect(capture({ limit: 0 })).rejects.toMatchObject({ code: 'capture_invalid' });
    await expect(capture({ limit: 1.5 })).rejects.toMatchObject({ code: 'capture_invalid' });
  });

  it('writes YAML that parseSuite reads back, comments and awkward text included', async () => {
    const { cases } = await capture();
    const text = renderCapturedSuite({
      agent: 'travel',
      cases,
      capturedAt: new Date('2026-02-01T00:00:00Z'),
    });
    expect(text).toMatch(/^# Captured by keel eval capture at 2026-02-01T00:00:00.000Z: 4 cases/);
    expect(text).toContain(`# Regression case from run ${runs.rome.id}`);
    expect(text).toContain('#   Day 2: Vatican \\u0007 "queues": long');
    const suite = parseSuite({ text, file: 'captured.yaml' });
    expect(suite).toMatchObject({ name: 'captured-travel', agent: 'travel' });
    expect(suite.cases.map((each) => each.id)).toEqual(cases.map((each) => each.id));
    for (const [index, parsed] of suite.cases.entries()) {
      const source = cases[index]!;
      expect(parsed.input).toEqual(source.input);
      expect(parsed.tags).toEqual(source.tags);
      expect(parsed.expect.map((spec) => spec.kind)).toEqual(
        source.expect.map((spec) => Object.keys(spec)[0]),
      );
    }
  });

  it("scores the committed run's own trajectory as a pass, and another trajectory as a fail", async () => {
    const [paris] = roundTrip((await capture({ outcome: 'committed' })).cases);
    const steps = (calls: [string, unknown][]): ScoredStep[] =>
      calls.map(([name, args]) => ({ kind: 'tool', name, arguments: args, output: null, ok: true }));
    const recorded = steps([
      ['get_weather', { city: 'Paris', days: 3 }],
      ['find_hotels', { city: 'Paris', tags: ['quiet'], filter: { contains: 'spa' } }],
      ['book_hotel', { hotel: 'H-1', nights: 3 }],
    ]);
    const verdict = async (scored: ScoredStep[]) =>
      (
        await scoreCase(
          paris!,
          createScorerContext({ evalCase: paris!, output: 'x', stopReason: 'completed', steps: scored }),
        )
      ).verdict;
    expect(await verdict(recorded)).toBe('pass');
    expect(await verdict(recorded.slice(0, 2))).toBe('fail');
    expect(
      await verdict([
        recorded[0]!,
        recorded[1]!,
        { ...recorded[2]!, arguments: { hotel: 'H-2', nights: 3 } },
      ]),
    ).toBe('fail');
  });
});
