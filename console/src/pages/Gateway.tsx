/**
 * Gateway: the deployments of the gateway this server runs, with their breaker state and kill
 * switch, and the traffic of the gateway's HTTP endpoints in a window (requests, errors and their
 * rate, p95 latency and spend per deployment; spend per API key and per user, the developer a
 * coding agent's calls were attributed to; requests per time bucket), all
 * aggregated by the API. Reading it needs the `admin` scope (its tenant's traffic) or `operator`.
 */
import { useQuery } from '@tanstack/react-query';
import { useId, useState, type ReactNode } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { api } from '../api/client';
import { useAuth } from '../auth';
import type { GatewayDeployment } from '../components/controls/types';
import { ErrorView } from '../components/ErrorView';
import { Loading, Page } from '../components/Page';
import { count, ms, percent, time, usd } from '../components/format';
import './controls.css';

type UsageWindow = '1h' | '24h' | '7d';

interface GatewayUsage {
  window: UsageWindow;
  since: string;
  until: string;
  bucket_seconds: number;
  deployments: {
    deployment: string;
    provider: string;
    model: string;
    requests: number;
    errors: number;
    error_rate: number;
    requests_per_minute: number;
    p95_latency_ms: number | null;
    cost_usd: number;
  }[];
  keys: {
    tenant_id: string | null;
    key_id: string | null;
    key_name: string | null;
    requests: number;
    errors: number;
    cost_usd: number;
  }[];
  users: {
    tenant_id: string | null;
    user_id: string | null;
    sessions: number;
    requests: number;
    errors: number;
    cost_usd: number;
  }[];
  series: { at: string; requests: number; errors: number }[];
}

const BREAKER_BADGE = { closed: 'ok', 'half-open': 'warn', open: 'bad' } as const;

/** A request rate, per minute when there is at least one a minute, else per hour. */
function rate(perMinute: number): string {
  if (perMinute >= 1) return `${perMinute.toFixed(1)} / min`;
  return `${(perMinute * 60).toFixed(perMinute * 60 >= 10 ? 0 : 1)} / h`;
}

export default function Gateway() {
  const { me } = useAuth();
  const allowed = me?.scopes.some((scope) => scope === 'admin' || scope === 'operator') ?? false;
  return (
    <Page title="Gateway">
      <div className="controls-page">
        {allowed ? (
          <GatewayView />
        ) : (
          <p className="controls-note" role="note">
            The gateway&apos;s deployments and traffic need a key with the <code>admin</code> (or{' '}
            <code>operator</code>) scope.
          </p>
        )}
      </div>
    </Page>
  );
}

function GatewayView() {
  const [window, setWindow] = useState<UsageWindow>('24h');
  const id = useId();
  const deployments = useQuery({
    queryKey: ['gateway', 'deployments'],
    queryFn: ({ signal }) =>
      api<{ configured: boolean; data: GatewayDeployment[] }>('/v1/gateway/deployments', { signal }),
    refetchInterval: 10_000,
  });
  const usage = useQuery({
    queryKey: ['gateway', 'usage', window],
    queryFn: ({ signal }) => api<GatewayUsage>(`/v1/gateway/usage?window=${window}`, { signal }),
    refetchInterval: 30_000,
  });
  if (deployments.isPending) return <Loading what="Loading the gateway" />;
  if (deployments.isError)
    return <ErrorView error={deployments.error} title="The gateway could not be read" />;
  const byName = new Map(usage.data?.deployments.map((row) => [row.deployment, row]));
  const totals = usage.data?.deployments.reduce(
    (sum, row) => ({
      requests: sum.requests + row.requests,
      errors: sum.errors + row.errors,
      cost: sum.cost + row.cost_usd,
    }),
    { requests: 0, errors: 0, cost: 0 },
  );
  const minutes = { '1h': 60, '24h': 1440, '7d': 10_080 }[window];
  return (
    <>
      {!deployments.data.configured && (
        <p className="controls-note" role="note">
          This server runs no gateway: its config has no <code>gateway</code> section, so there are no
          deployments or breakers. Calls recorded by a gateway on the same database are still counted below.
        </p>
      )}
      <div className="toolbar">
        <label htmlFor={`${id}-window`}>Window</label>
        <select
          id={`${id}-window`}
          value={window}
          onChange={(event) => setWindow(event.target.value as UsageWindow)}
        >
          <option value="1h">last hour</option>
          <option value="24h">last 24 hours</option>
          <option value="7d">last 7 days</option>
        </select>
        {usage.data !== undefined && (
          <span className="muted">
            {time(usage.data.since)} – {time(usage.data.until)}
          </span>
        )}
      </div>
      {usage.isError && <ErrorView error={usage.error} title="The gateway's traffic could not be read" />}
      {totals !== undefined && (
        <div className="cards">
          <div className="card">
            <h2>Requests</h2>
            <div className="value">{count(totals.requests)}</div>
            <div className="muted">{rate(totals.requests / minutes)}</div>
          </div>
          <div className="card">
            <h2>Error rate</h2>
            <div className="value">
              {totals.requests === 0 ? '–' : percent(totals.errors / totals.requests)}
            </div>
            <div className="muted">
              {count(totals.errors)} {totals.errors === 1 ? 'error' : 'errors'}
            </div>
          </div>
          <div className="card">
            <h2>Spend</h2>
            <div className="value">{usd(totals.cost)}</div>
          </div>
        </div>
      )}
      {usage.data !== undefined && <RequestChart usage={usage.data} />}

      <section aria-labelledby="deployments">
        <h2 id="deployments">Deployments</h2>
        {deployments.data.data.length === 0 && byName.size === 0 ? (
          <p className="muted">No deployment.</p>
        ) : (
          <div className="table-wrap" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Deployment</th>
                  <th scope="col">Model</th>
                  <th scope="col">Breaker</th>
                  <th scope="col" className="num">
                    Requests
                  </th>
                  <th scope="col" className="num">
                    Rate
                  </th>
                  <th scope="col" className="num">
                    Error rate
                  </th>
                  <th scope="col" className="num">
                    p95 latency
                  </th>
                  <th scope="col" className="num">
                    Spend
                  </th>
                </tr>
              </thead>
              <tbody>
                {[
                  ...deployments.data.data.map((deployment) => ({ deployment, name: deployment.name })),
                  // Calls of deployments this process does not configure (another gateway process).
                  ...[...byName.keys()]
                    .filter((name) => !deployments.data.data.some((deployment) => deployment.name === name))
                    .map((name) => ({ deployment: undefined, name })),
                ].map(({ deployment, name }) => {
                  const row = byName.get(name);
                  return (
                    <tr key={name}>
                      <td>
                        <code>{name}</code>
                        {deployment !== undefined && deployment.routes.length > 0 && (
                          <div className="muted">routes: {deployment.routes.join(', ')}</div>
                        )}
                      </td>
                      <td>
                        {deployment?.provider ?? row?.provider}:{deployment?.model ?? row?.model}
                      </td>
                      <td>
                        {deployment?.disabled ? (
                          <span className="badge bad" title={deployment.disabled.reason}>
                            disabled
                          </span>
                        ) : deployment?.breaker ? (
                          <span className={`badge ${BREAKER_BADGE[deployment.breaker.state]}`}>
                            {deployment.breaker.state}
                            {deployment.breaker.state === 'open' && deployment.breaker.retry_at !== null
                              ? ` until ${time(deployment.breaker.retry_at)}`
                              : ''}
                          </span>
                        ) : (
                          <span className="muted">not in this process</span>
                        )}
                        {deployment?.breaker && deployment.breaker.consecutive_failures > 0 && (
                          <div className="muted">
                            {deployment.breaker.consecutive_failures}{' '}
                            {deployment.breaker.consecutive_failures === 1 ? 'failure' : 'failures'} in a row
                          </div>
                        )}
                      </td>
                      <td className="num">{count(row?.requests ?? 0)}</td>
                      <td className="num">{rate(row?.requests_per_minute ?? 0)}</td>
                      <td className="num">{row === undefined ? '–' : percent(row.error_rate)}</td>
                      <td className="num">{ms(row?.p95_latency_ms)}</td>
                      <td className="num">{usd(row?.cost_usd ?? 0)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section aria-labelledby="spend-by-key">
        <h2 id="spend-by-key">Spend by API key</h2>
        {usage.isPending ? (
          <Loading what="Loading the spend" />
        ) : usage.data === undefined || usage.data.keys.length === 0 ? (
          <p className="muted">No gateway call in this window.</p>
        ) : (
          <SpendTable
            who="API key"
            rows={usage.data.keys}
            rowKey={(key) => `${key.tenant_id ?? ''}/${key.key_id ?? ''}`}
            name={(key) => (
              <>
                {key.key_name ?? <span className="muted">unnamed</span>}{' '}
                <code className="muted">{key.key_id ?? 'no key'}</code>
              </>
            )}
          />
        )}
      </section>

      {usage.data?.users.some((user) => user.user_id !== null) ? (
        <section aria-labelledby="spend-by-user">
          <h2 id="spend-by-user">Spend by user</h2>
          <SpendTable
            who="User"
            rows={usage.data.users}
            rowKey={(user) => `${user.tenant_id ?? ''}/${user.user_id ?? ''}`}
            name={(user) => user.user_id ?? <span className="muted">no user named</span>}
            counts={[{ header: 'Sessions', value: (user) => user.sessions }]}
          />
        </section>
      ) : null}
    </>
  );
}

/** What every spend row has, whoever it groups the gateway's calls by. */
interface SpendRow {
  tenant_id: string | null;
  requests: number;
  errors: number;
  cost_usd: number;
}

/**
 * The gateway's spend grouped by one party (an API key, a user): who, the tenant, then counts.
 * One component, so every grouping shows its requests, errors and spend alike.
 */
function SpendTable<Row extends SpendRow>({
  who,
  rows,
  rowKey,
  name,
  counts = [],
}: {
  /** The header of the first column, naming the party. */
  who: string;
  rows: Row[];
  rowKey: (row: Row) => string;
  /** The first cell: the party. */
  name: (row: Row) => ReactNode;
  /** Counts of this grouping only, between the tenant and the requests. */
  counts?: { header: string; value: (row: Row) => number }[];
}) {
  return (
    <div className="table-wrap" tabIndex={0}>
      <table>
        <thead>
          <tr>
            <th scope="col">{who}</th>
            <th scope="col">Tenant</th>
            {[...counts.map((column) => column.header), 'Requests', 'Errors', 'Spend'].map((header) => (
              <th key={header} scope="col" className="num">
                {header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={rowKey(row)}>
              <td>{name(row)}</td>
              <td>{row.tenant_id ?? '–'}</td>
              {counts.map((column) => (
                <td key={column.header} className="num">
                  {count(column.value(row))}
                </td>
              ))}
              <td className="num">{count(row.requests)}</td>
              <td className="num">{count(row.errors)}</td>
              <td className="num">{usd(row.cost_usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RequestChart({ usage }: { usage: GatewayUsage }) {
  const long = usage.bucket_seconds >= 86_400 / 4;
  const data = usage.series.map((bucket) => ({
    at: new Date(bucket.at).toLocaleString(
      undefined,
      long ? { weekday: 'short', hour: '2-digit' } : { hour: '2-digit', minute: '2-digit' },
    ),
    ok: bucket.requests - bucket.errors,
    errors: bucket.errors,
  }));
  const total = usage.series.reduce((sum, bucket) => sum + bucket.requests, 0);
  return (
    <figure className="chart-box">
      <figcaption>
        Requests per{' '}
        {usage.bucket_seconds >= 3600
          ? `${usage.bucket_seconds / 3600} h`
          : `${usage.bucket_seconds / 60} min`}
      </figcaption>
      <div
        role="img"
        aria-label={`Requests per time bucket: ${total} in the window`}
        style={{ width: '100%', height: 220 }}
      >
        <ResponsiveContainer>
          <BarChart data={data} margin={{ top: 5, right: 10, bottom: 5, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="var(--border)" />
            <XAxis dataKey="at" tick={{ fill: 'var(--muted)', fontSize: 11 }} minTickGap={16} />
            <YAxis allowDecimals={false} tick={{ fill: 'var(--muted)', fontSize: 11 }} width={36} />
            <Tooltip contentStyle={{ background: 'var(--bg)', border: '1px solid var(--border)' }} />
            <Legend />
            <Bar dataKey="ok" name="succeeded" stackId="requests" fill="var(--chart-1)" />
            <Bar dataKey="errors" name="errors" stackId="requests" fill="var(--chart-5)" />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
