/**
 * The overview's charts (recharts, only the parts used, so the page's chunk stays small). Each is
 * a `<figure>` named by its caption, with a sentence that says what it shows and its data as a
 * table behind "Data": the drawing itself is hidden from screen readers, which read those instead.
 * Colours come from the stylesheet's variables, so dark mode follows the system.
 */
import { useId, type ReactNode } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { SeriesPoint } from './overview-window';

const TICK = { fill: 'var(--muted)', fontSize: 12 };
const TOOLTIP_STYLE = {
  background: 'var(--bg)',
  border: '1px solid var(--border)',
  borderRadius: 'var(--radius)',
  color: 'var(--fg)',
};

/** A chart with its accessible name, summary and data table. */
export function ChartFigure({
  title,
  summary,
  columns,
  rows,
  chart,
  testId,
}: {
  title: string;
  /** One or two sentences with what the chart shows (read by screen readers, shown to all). */
  summary: ReactNode;
  columns: readonly string[];
  rows: readonly (readonly string[])[];
  /** The drawing; omitted when there is nothing to draw (the summary says so). */
  chart?: ReactNode;
  testId?: string;
}) {
  const id = useId();
  return (
    <figure className="chart" aria-labelledby={id} data-testid={testId}>
      <figcaption id={id}>
        <h3>{title}</h3>
      </figcaption>
      <p className="chart-summary">{summary}</p>
      {chart !== undefined && (
        <div className="chart-plot" aria-hidden="true">
          {chart}
        </div>
      )}
      {rows.length > 0 && (
        <details className="chart-data">
          <summary>Data</summary>
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">{title}</caption>
              <thead>
                <tr>
                  {columns.map((column, index) => (
                    <th key={column} scope="col" className={index === 0 ? undefined : 'num'}>
                      {column}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row[0]}>
                    {row.map((cell, index) =>
                      index === 0 ? (
                        <th key={index} scope="row">
                          {cell}
                        </th>
                      ) : (
                        <td key={index} className="num">
                          {cell}
                        </td>
                      ),
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </figure>
  );
}

/** A figure over time, one point per bucket (gaps where a bucket had no runs). */
export function TimeLineChart({
  points,
  dataKey,
  name,
  format,
  color = 'var(--chart-1)',
  domain,
}: {
  points: SeriesPoint[];
  dataKey: 'success_rate' | 'p95_duration_ms';
  name: string;
  format(value: number): string;
  color?: string;
  domain?: [number, number];
}) {
  return (
    <ResponsiveContainer width="100%" height={200}>
      <LineChart data={points} margin={{ top: 8, right: 12, bottom: 0, left: 4 }} accessibilityLayer={false}>
        <CartesianGrid stroke="var(--border)" strokeDasharray="3 3" vertical={false} />
        <XAxis dataKey="label" tick={TICK} minTickGap={24} stroke="var(--border)" />
        <YAxis
          tick={TICK}
          width={64}
          stroke="var(--border)"
          tickFormatter={format}
          {...(domain === undefined ? {} : { domain })}
        />
        <Tooltip
          contentStyle={TOOLTIP_STYLE}
          formatter={(value) => (typeof value === 'number' ? format(value) : String(value))}
        />
        <Line
          type="linear"
          dataKey={dataKey}
          name={name}
          stroke={color}
          strokeWidth={2}
          dot={{ r: 3, fill: color, stroke: color }}
          isAnimationActive={false}
        />
      </LineChart>
    </ResponsiveContainer>
  );
}

export interface BarDatum {
  label: string;
  value: number;
}

/** Bars by category (tools, loop counts, stop reasons); horizontal when the labels are long. */
export function CategoryBarChart({
  data,
  name,
  format,
  color = 'var(--chart-1)',
  horizontal = false,
  domain,
}: {
  data: BarDatum[];
  name: string;
  format(value: number): string;
  color?: string;
  horizontal?: boolean;
  domain?: [number, number];
}) {
  const height = horizontal ? Math.max(120, 34 * data.length + 40) : 200;
  return (
    <ResponsiveContainer width="100%" height={height}>
      <BarChart
        data={data}
        layout={horizontal ? 'vertical' : 'horizontal'}
        margin={{ top: 8, right: 16, bottom: 0, left: 4 }}
        accessibilityLayer={false}
      >
        <CartesianGrid
          stroke="var(--border)"
          strokeDasharray="3 3"
          {...{ [horizontal ? 'horizontal' : 'vertical']: false }}
        />
        {horizontal ? (
          <>
            <XAxis
              type="number"
              tick={TICK}
              stroke="var(--border)"
              tickFormatter={format}
              {...(domain === undefined ? {} : { domain })}
            />
            <YAxis type="category" dataKey="label" tick={TICK} width={120} stroke="var(--border)" />
          </>
        ) : (
          <>
            <XAxis
              dataKey="label"
              tick={TICK}
              stroke="var(--border)"
              interval={0}
              {...(data.length > 6 ? { angle: -35, textAnchor: 'end', height: 44 } : {})}
            />
            <YAxis
              tick={TICK}
              width={48}
              stroke="var(--border)"
              tickFormatter={format}
              allowDecimals={false}
              {...(domain === undefined ? {} : { domain })}
            />
          </>
        )}
        <Tooltip
          contentStyle={TOOLTIP_STYLE}
          cursor={{ fill: 'var(--bg-soft)' }}
          formatter={(value) => (typeof value === 'number' ? format(value) : String(value))}
        />
        <Bar dataKey="value" name={name} fill={color} isAnimationActive={false} minPointSize={2} />
      </BarChart>
    </ResponsiveContainer>
  );
}
