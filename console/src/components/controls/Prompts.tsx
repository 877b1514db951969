/**
 * Prompt versions per agent (`/v1/prompts/{agent}`): the versions pushed, the pin, one version's
 * text, a line diff between two versions, pin a version and roll back (each confirmed and audited).
 * Beside each version, the pass rate of its latest eval (`GET /v1/evals`), linked to it: the
 * prompt-iteration loop (push, eval, compare, pin) seen in one table.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { Link } from 'react-router';
import { api, query } from '../../api/client';
import type { EvalPage } from '../../api/types';
import { useAuth } from '../../auth';
import { Confirm } from '../Confirm';
import { ErrorView } from '../ErrorView';
import { Loading } from '../Page';
import { percent, time } from '../format';
import { diffStats, lineDiff } from '../line-diff';
import type { AgentView, PromptList, PromptSummary } from './types';

interface PromptVersion extends PromptSummary {
  text: string;
}

function useVersion(agent: string, version: string | undefined) {
  return useQuery({
    queryKey: ['prompts', agent, 'version', version],
    enabled: version !== undefined && version !== '',
    queryFn: ({ signal }) =>
      api<PromptVersion>(
        `/v1/prompts/${encodeURIComponent(agent)}/versions/${encodeURIComponent(version ?? '')}`,
        { signal },
      ),
  });
}

export function Prompts({ agents, admin }: { agents: AgentView[]; admin: boolean }) {
  const [chosen, setChosen] = useState(agents[0]?.name ?? '');
  const id = useId();
  return (
    <section aria-labelledby="prompts">
      <h2 id="prompts">Prompt versions</h2>
      <div className="toolbar">
        <label htmlFor={`${id}-agent`}>Agent</label>
        <select id={`${id}-agent`} value={chosen} onChange={(event) => setChosen(event.target.value)}>
          {agents.map((agent) => (
            <option key={agent.name}>{agent.name}</option>
          ))}
        </select>
      </div>
      {chosen !== '' && <AgentPrompts key={chosen} agent={chosen} admin={admin} />}
    </section>
  );
}

function AgentPrompts({ agent, admin }: { agent: string; admin: boolean }) {
  const client = useQueryClient();
  const readEvals = useAuth().can('readRuns');
  const id = useId();
  const list = useQuery({
    queryKey: ['prompts', agent],
    queryFn: ({ signal }) => api<PromptList>(`/v1/prompts/${encodeURIComponent(agent)}`, { signal }),
  });
  const [shown, setShown] = useState<string>();
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const refresh = () => client.invalidateQueries();
  if (list.isPending) return <Loading what="Loading prompt versions" />;
  if (list.isError) return <ErrorView error={list.error} title="Prompt versions could not be read" />;
  const versions = list.data.data;
  const pinned = list.data.pinned_version;
  return (
    <>
      <p>
        New runs use{' '}
        {pinned === null ? (
          <>
            the instructions in code (<code>{list.data.code_version}</code>)
          </>
        ) : (
          <>
            pinned version <strong>{pinned}</strong>
            {list.data.pinned_by !== null && (
              <span className="muted">
                {' '}
                (by <code>{list.data.pinned_by}</code>, {time(list.data.pinned_at)})
              </span>
            )}
          </>
        )}
        .{' '}
        {admin && pinned !== null && (
          <Confirm
            label="Roll back"
            question={
              list.data.previous_versions.length > 0
                ? `Roll ${agent} back to ${list.data.previous_versions[list.data.previous_versions.length - 1] ?? 'the previous pin'}?`
                : `Remove the pin of ${agent}? New runs then use the instructions in code.`
            }
            onConfirm={async () => {
              await api(`/v1/prompts/${encodeURIComponent(agent)}/rollback`, { method: 'POST' });
              await refresh();
            }}
          />
        )}
      </p>
      {versions.length === 0 ? (
        <p className="muted">
          No version pushed for {agent} (push one with <code>keel prompts push</code> or{' '}
          <code>POST /v1/prompts/{agent}</code>).
        </p>
      ) : (
        <>
          <div className="table-wrap" tabIndex={0}>
            <table>
              <caption className="visually-hidden">Prompt versions of {agent}</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Note</th>
                  <th scope="col">Pushed by</th>
                  <th scope="col">At</th>
                  {readEvals && <th scope="col">Latest eval</th>}
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {versions.map((version) => (
                  <tr key={version.version}>
                    <td>
                      <strong>{version.version}</strong>{' '}
                      {version.version === pinned && <span className="badge ok">pinned</span>}
                    </td>
                    <td>{version.note ?? <span className="muted">–</span>}</td>
                    <td>
                      <code>{version.created_by}</code>
                    </td>
                    <td>{time(version.created_at)}</td>
                    {readEvals && (
                      <td>
                        <LatestEval agent={agent} version={version.version} />
                      </td>
                    )}
                    <td className="row-actions">
                      <button
                        type="button"
                        aria-pressed={shown === version.version}
                        onClick={() => setShown(shown === version.version ? undefined : version.version)}
                      >
                        Show {version.version}
                      </button>
                      {admin && version.version !== pinned && (
                        <Confirm
                          label={`Pin ${version.version}`}
                          question={`Pin ${version.version} of ${agent}? Runs created from now on use it.`}
                          onConfirm={async () => {
                            await api(`/v1/prompts/${encodeURIComponent(agent)}/pin`, {
                              method: 'POST',
                              body: { version: version.version },
                            });
                            await refresh();
                          }}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {shown !== undefined && <VersionText agent={agent} version={shown} />}
          <h3>Compare versions</h3>
          <div className="toolbar">
            <label htmlFor={`${id}-from`}>From</label>
            <select id={`${id}-from`} value={from} onChange={(event) => setFrom(event.target.value)}>
              <option value="">choose</option>
              {versions.map((version) => (
                <option key={version.version}>{version.version}</option>
              ))}
            </select>
            <label htmlFor={`${id}-to`}>To</label>
            <select id={`${id}-to`} value={to} onChange={(event) => setTo(event.target.value)}>
              <option value="">choose</option>
              {versions.map((version) => (
                <option key={version.version}>{version.version}</option>
              ))}
            </select>
          </div>
          {from !== '' && to !== '' && <VersionDiff agent={agent} from={from} to={to} />}
        </>
      )}
    </>
  );
}

/** The pass rate of the version's latest eval, linked to it (and to all the version's evals). */
function LatestEval({ agent, version }: { agent: string; version: string }) {
  const latest = useQuery({
    queryKey: ['evals', agent, version, 'latest'],
    queryFn: ({ signal }) =>
      api<EvalPage>(`/v1/evals${query({ agent, prompt_version: version, limit: 1 })}`, {
        signal,
      }),
  });
  if (latest.isPending) return <span className="muted">…</span>;
  if (latest.isError) return <span className="muted">{latest.error.message}</span>;
  const found = latest.data.data[0];
  if (found === undefined) return <span className="muted">none</span>;
  return (
    <>
      <Link
        to={`/evals/${encodeURIComponent(found.id)}`}
        aria-label={`Latest eval of ${version}: ${found.total === 0 ? found.status : `${percent(found.pass_rate)} passed`}`}
      >
        {found.total === 0 ? found.status : percent(found.pass_rate)}
      </Link>{' '}
      <Link className="muted" to={`/evals${query({ agent, prompt_version: version })}`}>
        all evals of {version}
      </Link>
    </>
  );
}

function VersionText({ agent, version }: { agent: string; version: string }) {
  const text = useVersion(agent, version);
  if (text.isPending) return <Loading what={`Loading ${version}`} />;
  if (text.isError) return <ErrorView error={text.error} title={`${version} could not be read`} />;
  return (
    <figure className="prompt-text">
      <figcaption>
        {version} <span className="muted">sha256 {text.data.sha256.slice(0, 12)}…</span>
      </figcaption>
      <pre tabIndex={0}>{text.data.text}</pre>
    </figure>
  );
}

function VersionDiff({ agent, from, to }: { agent: string; from: string; to: string }) {
  const before = useVersion(agent, from);
  const after = useVersion(agent, to);
  if (before.isError || after.isError)
    return <ErrorView error={before.error ?? after.error} title="The versions could not be read" />;
  if (before.isPending || after.isPending) return <Loading what="Loading the versions" />;
  const diff = lineDiff(before.data.text, after.data.text);
  const { added, removed } = diffStats(diff);
  return (
    <figure className="line-diff">
      <figcaption>
        {from} → {to}: <span className="diff-added-count">+{added}</span>{' '}
        <span className="diff-removed-count">−{removed}</span> lines
      </figcaption>
      <pre tabIndex={0} aria-label={`Line diff from ${from} to ${to}`}>
        {diff.map((line, index) => (
          <span key={index} className={`diff-line diff-${line.kind}`}>
            <span className="diff-mark" aria-hidden="true">
              {line.kind === 'added' ? '+' : line.kind === 'removed' ? '−' : ' '}
            </span>
            {line.kind !== 'same' && <span className="visually-hidden">{line.kind}: </span>}
            {line.text}
            {'\n'}
          </span>
        ))}
      </pre>
    </figure>
  );
}
