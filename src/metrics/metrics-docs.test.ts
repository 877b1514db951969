/** The metrics docs and the Grafana dashboard name only metrics Keel registers, and every one of them. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createKeelMetrics } from './keel-metrics.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

const registered = () => {
  const client = { query: async () => ({ rows: [], rowCount: 0 }), exec: async () => {} };
  const metrics = createKeelMetrics({ client, processMetrics: false });
  return metrics.registry.getMetricsAsArray().map((metric) => (metric as unknown as { name: string }).name);
};

/** A series name back to its metric (`keel_x_bucket` → `keel_x`). */
const metricOf = (name: string, names: readonly string[]) =>
  names.includes(name) ? name : name.replace(/_(bucket|count|sum)$/, '');

describe('the metrics documentation', () => {
  const names = registered();

  it('lists every metric Keel registers in docs/observability.md', () => {
    const section = read('docs/observability.md').split('## Prometheus metrics')[1] ?? '';
    for (const name of names) expect(section, name).toContain(`\`${name}\``);
  });

  it('has a Grafana dashboard whose queries use only registered metrics, with the five seed panels', () => {
    const dashboard = JSON.parse(read('docs/grafana/keel-dashboard.json')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dashboard.panels.map((panel) => panel.title).slice(0, 5)).toEqual([
      'Success rate',
      'p95 run latency',
      'Cost per successful task',
      'Tool error rate by name',
      'Loop count (model calls per run)',
    ]);
    const used = dashboard.panels.flatMap((panel) =>
      panel.targets.flatMap((target) => target.expr.match(/keel_[a-z_]+/g) ?? []),
    );
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(names, name).toContain(metricOf(name, names));
  });
});
