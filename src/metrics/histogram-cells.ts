import type { Registry } from 'prom-client';

/** One series of a histogram on the hot path. */
export interface HistogramCell {
  observe(value: number): void;
}

/** Options of {@link createHistogramCells}. */
export interface HistogramCellsOptions {
  name: string;
  help: string;
  /** Upper bounds, ascending (`+Inf` is implied). */
  buckets: readonly number[];
  registry: Registry;
}

/** A sample as prom-client's registry formats it. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A histogram whose series are plain cells: observing is a short scan of the bounds and three
 * additions (prom-client's own histogram hashes the labels on every observation). It registers
 * in `registry` as a metric prom-client formats like its own histograms (`_bucket` cumulative
 * by `le`, `_sum`, `_count`), built at scrape time from the cells.
 */
export function createHistogramCells({ name, help, buckets, registry }: HistogramCellsOptions): {
  cell(labels?: Record<string, string>): HistogramCell;
} {
  const bounds = [...buckets];
  const boundLabels = bounds.map(String);
  const cells: { labels: Record<string, string>; counts: Float64Array; sum: number; count: number }[] = [];
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: Sample[] = [];
      for (const cell of cells) {
        let cumulative = 0;
        for (let index = 0; index < bounds.length; index++) {
          cumulative += cell.counts[index] ?? 0;
          values.push({
            metricName: `${name}_bucket`,
            labels: { ...cell.labels, le: boundLabels[index] ?? '' },
            value: cumulative,
          });
        }
        values.push({
          metricName: `${name}_bucket`,
          labels: { ...cell.labels, le: '+Inf' },
          value: cell.count,
        });
        values.push({ metricName: `${name}_sum`, labels: cell.labels, value: cell.sum });
        values.push({ metricName: `${name}_count`, labels: cell.labels, value: cell.count });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset() {
      for (const cell of cells) {
        cell.counts.fill(0);
        cell.sum = 0;
        cell.count = 0;
      }
    },
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  return {
    cell(labels = {}) {
      const state = { labels, counts: new Float64Array(bounds.length), sum: 0, count: 0 };
      cells.push(state);
      return {
        observe(value) {
          if (!Number.isFinite(value)) return;
          for (let index = 0; index < bounds.length; index++) {
            if (value <= (bounds[index] as number)) {
              state.counts[index] = (state.counts[index] ?? 0) + 1;
              break;
            }
          }
          state.sum += value;
          state.count++;
        },
      };
    },
  };
}
