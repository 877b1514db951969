/** The overview's windows and the time buckets its charts draw (gaps filled where no run was). */
import { describe, expect, it } from 'vitest';
import {
  fillSeries,
  isWindowName,
  previousWindow,
  resolveWindow,
} from '../src/pages/overview/overview-window.js';

const NOW = Date.parse('2026-12-06T02:25:00Z');
const group = (key: string, runs: number, successRate: number, p95: number) => ({
  key,
  runs,
  success_rate: successRate,
  p95_duration_ms: p95,
});

describe('overview windows', () => {
  it('resolves a window ending now, and the one of the same length before it', () => {
    const day = resolveWindow('24h', NOW);
    expect(day).toEqual({ name: '24h', from: '2026-12-05T02:25:00.000Z', to: '2026-12-06T02:25:00.000Z' });
    expect(previousWindow(day)).toEqual({ from: '2026-12-04T02:25:00.000Z', to: '2026-12-05T02:25:00.000Z' });
    expect(isWindowName('7d')).toBe(true);
    expect(isWindowName('2w')).toBe(false);
    expect(isWindowName('constructor')).toBe(false);
  });

  it("places the API's hour groups in their buckets and leaves the others empty", () => {
    const points = fillSeries(resolveWindow('24h', NOW), [
      group('2026-12-05T10:00:00Z', 3, 2 / 3, 900),
      group('2026-12-06T02:00:00Z', 1, 1, 400),
    ]);
    // 02:00 yesterday (partly in the window) to 02:00 today: 25 hours.
    expect(points).toHaveLength(25);
    expect(points[0]!.start).toBe('2026-12-05T02:00:00.000Z');
    expect(points[8]).toMatchObject({ start: '2026-12-05T10:00:00.000Z', runs: 3, p95_duration_ms: 900 });
    expect(points[24]).toMatchObject({ start: '2026-12-06T02:00:00.000Z', runs: 1, success_rate: 1 });
    expect(points[1]).toMatchObject({ runs: 0, success_rate: null, p95_duration_ms: null });
  });

  it('uses UTC days for the week and the month', () => {
    const points = fillSeries(resolveWindow('7d', NOW), [group('2026-12-01', 4, 0.5, 1200)]);
    expect(points.map((point) => point.start.slice(0, 10))).toEqual([
      '2026-11-29',
      '2026-11-30',
      '2026-12-01',
      '2026-12-02',
      '2026-12-03',
      '2026-12-04',
      '2026-12-05',
      '2026-12-06',
    ]);
    expect(points[2]).toMatchObject({ runs: 4, success_rate: 0.5 });
    expect(fillSeries(resolveWindow('30d', NOW), [])).toHaveLength(31);
  });
});
