/**
 * Controls: steer the agents. Kill switches (tools, agents, deployments), pause and resume,
 * budgets and spend breakers, prompt versions (diff, pin, rollback) and the audit log where every
 * change made here shows up. Changing anything needs the `admin` scope; other keys get a
 * read-only view of the agents and what holds them.
 */
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { useAuth } from '../auth';
import { AuditLog } from '../components/controls/AuditLog';
import { Budgets } from '../components/controls/Budgets';
import { KillSwitches } from '../components/controls/KillSwitches';
import { Prompts } from '../components/controls/Prompts';
import type { AgentView } from '../components/controls/types';
import { ErrorView } from '../components/ErrorView';
import { Loading, Page } from '../components/Page';
import './controls.css';

export default function Controls() {
  const { can } = useAuth();
  const admin = can('admin');
  const agents = useQuery({
    queryKey: ['agents'],
    queryFn: ({ signal }) => api<{ data: AgentView[] }>('/v1/agents', { signal }),
  });
  return (
    <Page title="Controls">
      <div className="controls-page">
        {agents.isPending ? (
          <Loading what="Loading agents" />
        ) : agents.isError ? (
          <ErrorView error={agents.error} title="The agents could not be read" />
        ) : admin ? (
          <>
            <nav aria-label="Sections" className="section-nav">
              <a href="#kill-switches">Kill switches</a>
              <a href="#budgets">Budgets</a>
              <a href="#prompts">Prompt versions</a>
              <a href="#audit">Audit log</a>
            </nav>
            <KillSwitches agents={agents.data.data} />
            <Budgets />
            <Prompts agents={agents.data.data} admin />
            <AuditLog />
          </>
        ) : (
          <ReadOnly agents={agents.data.data} />
        )}
      </div>
    </Page>
  );
}

/** What a key without `admin` sees: the state of each agent and tool, and why it cannot change them. */
function ReadOnly({ agents }: { agents: AgentView[] }) {
  return (
    <>
      <p className="controls-note" role="note">
        Changing controls, budgets and prompt versions, and reading the audit log, needs a key with the{' '}
        <code>admin</code> scope. This key sees the agents&apos; state only.
      </p>
      <section aria-labelledby="agents-state">
        <h2 id="agents-state">Agents and tools</h2>
        <div className="table-wrap" tabIndex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">State</th>
                <th scope="col">Prompt version</th>
                <th scope="col">Disabled tools</th>
              </tr>
            </thead>
            <tbody>
              {agents.map((agent) => {
                const disabled = agent.tools.filter((tool) => tool.disabled).map((tool) => tool.name);
                return (
                  <tr key={agent.name}>
                    <td>{agent.name}</td>
                    <td>
                      {agent.hold === null ? (
                        <span className="badge ok">active</span>
                      ) : (
                        <span className="badge bad">
                          {agent.hold.code === 'agent_disabled' ? 'disabled' : 'paused'}
                          {agent.hold.reason ? `: ${agent.hold.reason}` : ''}
                        </span>
                      )}
                    </td>
                    <td>
                      <code>{agent.prompt.current_version}</code>
                      {agent.prompt.pinned_version !== null && <span className="muted"> (pinned)</span>}
                    </td>
                    <td>
                      {disabled.length === 0 ? <span className="muted">none</span> : disabled.join(', ')}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
