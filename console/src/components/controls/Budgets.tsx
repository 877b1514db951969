/**
 * Budgets (`/v1/budgets`) with the current period's spend and reservations: create, change a
 * limit, delete (each confirmed and audited); and the config's spend breakers, read-only.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { api } from '../../api/client';
import { Confirm } from '../Confirm';
import { ErrorView } from '../ErrorView';
import { Loading } from '../Page';
import { count, time, usd } from '../format';
import type { BudgetView, SpendBreakerView } from './types';

const SCOPES = ['tenant', 'agent', 'user', 'session', 'api_key', 'run'] as const;
const PERIODS = ['run', 'hour', 'day', 'month', 'total'] as const;

function Meter({ budget }: { budget: BudgetView }) {
  if (budget.limit_usd === null || budget.limit_usd === 0) return null;
  const used = (budget.spent_usd + budget.reserved_usd) / budget.limit_usd;
  const level = used >= 1 ? 'bad' : used * 100 >= budget.soft_pct ? 'warn' : 'ok';
  return (
    <meter
      className={`budget-meter ${level}`}
      min={0}
      max={budget.limit_usd}
      low={(budget.limit_usd * budget.soft_pct) / 100}
      high={budget.limit_usd}
      value={Math.min(budget.spent_usd + budget.reserved_usd, budget.limit_usd)}
      aria-label={`${budget.scope} ${budget.scope_id}: ${Math.round(used * 100)} % of the limit used`}
    />
  );
}

export function Budgets() {
  const client = useQueryClient();
  const budgets = useQuery({
    queryKey: ['budgets'],
    queryFn: ({ signal }) => api<{ data: BudgetView[] }>('/v1/budgets', { signal }),
  });
  const refresh = () => client.invalidateQueries();
  return (
    <section aria-labelledby="budgets">
      <h2 id="budgets">Budgets</h2>
      {budgets.isPending ? (
        <Loading what="Loading budgets" />
      ) : budgets.isError ? (
        <ErrorView error={budgets.error} title="Budgets could not be read" />
      ) : budgets.data.data.length === 0 ? (
        <p className="muted">No budget yet: runs and gateway calls spend without a cap.</p>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table>
            <caption className="visually-hidden">Budgets</caption>
            <thead>
              <tr>
                <th scope="col">Scope</th>
                <th scope="col">Period</th>
                <th scope="col" className="num">
                  Limit
                </th>
                <th scope="col" className="num">
                  Spent
                </th>
                <th scope="col" className="num">
                  Reserved
                </th>
                <th scope="col">Use</th>
                <th scope="col">Source</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {budgets.data.data.map((budget) => (
                <tr key={budget.id}>
                  <td>
                    {budget.scope} <code>{budget.scope_id}</code>
                  </td>
                  <td>{budget.period}</td>
                  <td className="num">
                    {budget.limit_usd === null ? '' : usd(budget.limit_usd, 2)}
                    {budget.limit_tokens === null ? '' : ` ${count(budget.limit_tokens)} tokens`}
                  </td>
                  <td className="num">
                    {usd(budget.spent_usd)}
                    {budget.limit_tokens === null ? '' : ` / ${count(budget.spent_tokens)} tok`}
                  </td>
                  <td className="num">{usd(budget.reserved_usd)}</td>
                  <td>
                    <Meter budget={budget} />
                  </td>
                  <td>{budget.source}</td>
                  <td className="row-actions">
                    {budget.source === 'api' ? (
                      <>
                        <Confirm
                          label="Change limit"
                          question={`New dollar limit of the ${budget.period} budget of ${budget.scope} ${budget.scope_id}?`}
                          confirmLabel="Save limit"
                          input={{
                            label: 'Limit (USD)',
                            required: true,
                            placeholder: String(budget.limit_usd ?? ''),
                          }}
                          onConfirm={async (text) => {
                            const limit = Number(text);
                            if (text.trim() === '' || !Number.isFinite(limit) || limit < 0)
                              throw new Error('The limit must be a number of dollars, 0 or more.');
                            await api(`/v1/budgets/${encodeURIComponent(budget.id)}`, {
                              method: 'PATCH',
                              body: { limit_usd: limit },
                            });
                            await refresh();
                          }}
                        />
                        <Confirm
                          danger
                          label="Delete"
                          question={`Delete the ${budget.period} budget of ${budget.scope} ${budget.scope_id}?`}
                          onConfirm={async () => {
                            await api(`/v1/budgets/${encodeURIComponent(budget.id)}`, { method: 'DELETE' });
                            await refresh();
                          }}
                        />
                      </>
                    ) : (
                      <span className="muted">edit in the config file</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <NewBudget onCreated={refresh} />
      <SpendBreakers />
    </section>
  );
}

function NewBudget({ onCreated }: { onCreated(): Promise<unknown> }) {
  const [scope, setScope] = useState<(typeof SCOPES)[number]>('tenant');
  const [scopeId, setScopeId] = useState('');
  const [period, setPeriod] = useState<(typeof PERIODS)[number]>('day');
  const [limitUsd, setLimitUsd] = useState('');
  const [limitTokens, setLimitTokens] = useState('');
  const [softPct, setSoftPct] = useState('80');
  const id = useId();
  const body = {
    scope,
    ...(scopeId.trim() === '' ? {} : { scope_id: scopeId.trim() }),
    period,
    ...(limitUsd.trim() === '' ? {} : { limit_usd: Number(limitUsd) }),
    ...(limitTokens.trim() === '' ? {} : { limit_tokens: Number(limitTokens) }),
    ...(softPct.trim() === '' ? {} : { soft_pct: Number(softPct) }),
  };
  return (
    <fieldset className="form-grid">
      <legend>New budget</legend>
      <div className="field">
        <label htmlFor={`${id}-scope`}>Scope</label>
        <select
          id={`${id}-scope`}
          value={scope}
          onChange={(event) => setScope(event.target.value as typeof scope)}
        >
          {SCOPES.map((value) => (
            <option key={value}>{value}</option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-scope-id`}>Scope id</label>
        <input
          id={`${id}-scope-id`}
          value={scopeId}
          placeholder={scope === 'tenant' ? 'your tenant' : `the ${scope}`}
          onChange={(event) => setScopeId(event.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-period`}>Period</label>
        <select
          id={`${id}-period`}
          value={period}
          onChange={(event) => setPeriod(event.target.value as typeof period)}
        >
          {PERIODS.map((value) => (
            <option key={value}>{value}</option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-usd`}>Limit (USD)</label>
        <input
          id={`${id}-usd`}
          type="number"
          min={0}
          step="any"
          value={limitUsd}
          onChange={(event) => setLimitUsd(event.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-tokens`}>Limit (tokens)</label>
        <input
          id={`${id}-tokens`}
          type="number"
          min={0}
          step={1}
          value={limitTokens}
          onChange={(event) => setLimitTokens(event.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-soft`}>Alert at (% of limit)</label>
        <input
          id={`${id}-soft`}
          type="number"
          min={1}
          max={100}
          value={softPct}
          onChange={(event) => setSoftPct(event.target.value)}
        />
      </div>
      <div className="form-submit">
        <Confirm
          className="primary"
          label="Create budget"
          question={`Create a ${period} budget for ${scope} ${scopeId.trim() || (scope === 'tenant' ? '(your tenant)' : '?')}${limitUsd.trim() === '' ? '' : ` of ${usd(Number(limitUsd), 2)}`}?`}
          onConfirm={async () => {
            await api('/v1/budgets', { method: 'POST', body });
            setScopeId('');
            setLimitUsd('');
            setLimitTokens('');
            await onCreated();
          }}
        />
      </div>
    </fieldset>
  );
}

function SpendBreakers() {
  const breakers = useQuery({
    queryKey: ['spend-breakers'],
    queryFn: ({ signal }) =>
      api<{ configured: boolean; data: SpendBreakerView[] }>('/v1/spend-breakers', { signal }),
  });
  return (
    <>
      <h3>Spend breakers</h3>
      {breakers.isPending ? (
        <Loading what="Loading spend breakers" />
      ) : breakers.isError ? (
        <ErrorView error={breakers.error} title="Spend breakers could not be read" />
      ) : breakers.data.data.length === 0 ? (
        <p className="muted">
          No spend breaker is configured (<code>spendBreakers</code> in the config file pauses an agent or
          tenant whose spend in a window passes a limit).
        </p>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table>
            <caption className="visually-hidden">Spend breakers (set in the config file)</caption>
            <thead>
              <tr>
                <th scope="col">Watches</th>
                <th scope="col">Window</th>
                <th scope="col" className="num">
                  Trips above
                </th>
                <th scope="col" className="num">
                  Spent in window
                </th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {breakers.data.data.flatMap((breaker, index) =>
                (breaker.watched.length === 0 ? [undefined] : breaker.watched).map((watched) => (
                  <tr key={`${index}/${watched?.id ?? ''}`}>
                    <td>
                      {breaker.scope} <code>{watched?.id ?? breaker.target ?? 'each'}</code>
                    </td>
                    <td>{breaker.window}</td>
                    <td className="num">{usd(breaker.max_usd, 2)}</td>
                    <td className="num">
                      {watched === undefined || watched.spent_usd === null ? '–' : usd(watched.spent_usd)}
                    </td>
                    <td>
                      {watched?.tripped ? (
                        <span className="badge bad" title={watched.tripped.reason}>
                          tripped {time(watched.tripped.set_at)}: resume the {breaker.scope} to reset
                        </span>
                      ) : (
                        <span className="badge ok">armed</span>
                      )}
                    </td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
