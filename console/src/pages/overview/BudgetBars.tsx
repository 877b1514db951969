/**
 * Spend against each budget (`GET /v1/budgets`, admin keys only): the current period's spent and
 * reserved amounts as a bar against the limit, the soft threshold marked. Every figure is also
 * written out, so the bars themselves are hidden from screen readers.
 */
import { useId } from 'react';
import { count, usd } from '../../components/format';
import type { Budget } from './overview-types';

function scopeLabel(budget: Budget): string {
  const period = budget.period === 'total' ? 'in total' : `per ${budget.period}`;
  return budget.scope === 'tenant' ? `Tenant, ${period}` : `${budget.scope} ${budget.scope_id}, ${period}`;
}

interface Meter {
  unit: 'usd' | 'tokens';
  limit: number;
  spent: number;
  reserved: number;
}

function metersOf(budget: Budget): Meter[] {
  const meters: Meter[] = [];
  if (budget.limit_usd !== null)
    meters.push({
      unit: 'usd',
      limit: budget.limit_usd,
      spent: budget.spent_usd,
      reserved: budget.reserved_usd,
    });
  if (budget.limit_tokens !== null)
    meters.push({
      unit: 'tokens',
      limit: budget.limit_tokens,
      spent: budget.spent_tokens,
      reserved: budget.reserved_tokens,
    });
  return meters;
}

function MeterBar({ meter, softPct }: { meter: Meter; softPct: number }) {
  const scale = Math.max(meter.limit, meter.spent + meter.reserved) || 1;
  const share = (value: number) => `${Math.min(100, (value / scale) * 100)}%`;
  const used = meter.limit === 0 ? 1 : (meter.spent + meter.reserved) / meter.limit;
  const level = used >= 1 ? 'bad' : used * 100 >= softPct ? 'warn' : 'ok';
  const amount = meter.unit === 'usd' ? usd : count;
  return (
    <div className="budget-meter">
      <div className={`budget-bar ${level}`} aria-hidden="true">
        <span className="budget-spent" style={{ width: share(meter.spent) }} />
        <span className="budget-reserved" style={{ width: share(meter.reserved) }} />
        <span
          className="budget-soft"
          style={{ left: share((meter.limit * softPct) / 100) }}
          title={`soft ${softPct} %`}
        />
        {meter.spent + meter.reserved > meter.limit && (
          <span className="budget-limit" style={{ left: share(meter.limit) }} />
        )}
      </div>
      <p className="budget-figures">
        {amount(meter.spent)} spent + {amount(meter.reserved)} reserved of {amount(meter.limit)}
        {meter.unit === 'tokens' ? ' tokens' : ''} · {Math.round(used * 100)} % used, soft at {softPct} %
        {level !== 'ok' && (
          <>
            {' '}
            <span className={`badge ${level}`}>{level === 'bad' ? 'exhausted' : 'over soft'}</span>
          </>
        )}
      </p>
    </div>
  );
}

export function BudgetBars({ budgets }: { budgets: Budget[] }) {
  const id = useId();
  const limited = budgets.filter((budget) => metersOf(budget).length > 0);
  return (
    <figure className="chart budgets" aria-labelledby={id} data-testid="chart-budgets">
      <figcaption id={id}>
        <h3>Spend against budgets (current period)</h3>
      </figcaption>
      {limited.length === 0 ? (
        <p className="chart-summary">
          No budgets with a limit. Set one on the Controls page or with <code>POST /v1/budgets</code>.
        </p>
      ) : (
        <>
          <p className="chart-summary">
            Spent and reserved against each limit; the tick marks the soft threshold that raises an alert.
          </p>
          <ul className="budget-list">
            {limited.map((budget) => (
              <li key={budget.id} className="budget">
                <strong>{scopeLabel(budget)}</strong>{' '}
                <span className="muted">(on exhausted: {budget.on_exhausted})</span>
                {metersOf(budget).map((meter) => (
                  <MeterBar key={meter.unit} meter={meter} softPct={budget.soft_pct} />
                ))}
              </li>
            ))}
          </ul>
        </>
      )}
    </figure>
  );
}
