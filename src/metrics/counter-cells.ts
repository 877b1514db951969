import type { Counter } from 'prom-client';

/** One series of a counter on the hot path: a number to add to. */
export interface CounterCell {
  value: number;
}

/**
 * A counter's series as plain cells: the hot path adds to a number (no label hashing, no
 * allocation), and `flush`, called from the counter's `collect` at scrape time, moves what was
 * added since the last scrape into prom-client, which formats it. A cell is made once per label
 * set (behind the label guards' caches), so there are as many as the counter has series.
 */
export function createCounterCells(counter: () => Counter<string>): {
  cell(labels: Record<string, string>): CounterCell;
  flush(): void;
} {
  const cells: { labels: Record<string, string>; cell: CounterCell; flushed: number }[] = [];
  return {
    cell(labels) {
      const cell = { value: 0 };
      cells.push({ labels, cell, flushed: 0 });
      return cell;
    },
    flush() {
      for (const entry of cells) {
        const { value } = entry.cell;
        if (value <= entry.flushed) continue;
        counter().inc(entry.labels, value - entry.flushed);
        entry.flushed = value;
      }
    },
  };
}
