/**
 * Kill switches and pauses: the controls in force (each can be cleared), every agent with its
 * tools (disable a tool for every agent or for one, disable or pause the agent) and gateway
 * deployments (operator keys only: a deployment's switch applies to every tenant).
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { api } from '../../api/client';
import { useAuth } from '../../auth';
import { Confirm } from '../Confirm';
import { ErrorView } from '../ErrorView';
import { Loading } from '../Page';
import { time } from '../format';
import type { AgentView, ControlView, GatewayDeployment } from './types';

const KIND_LABELS: Record<ControlView['kind'], string> = {
  tool_disabled: 'Tool disabled',
  agent_disabled: 'Agent disabled',
  deployment_disabled: 'Deployment disabled',
  agent_paused: 'Agent paused',
  tenant_paused: 'Tenant paused',
};

const REASON = { label: 'Reason (kept in the audit log)', placeholder: 'e.g. upstream API down' };

type ControlBody = {
  kind: ControlView['kind'];
  target: string;
  agent?: string;
  reason?: string;
  tenant_id?: string;
};

/** Refetches everything a change can touch: controls, agents, the audit log... */
function useRefresh() {
  const client = useQueryClient();
  return () => client.invalidateQueries();
}

export function KillSwitches({ agents }: { agents: AgentView[] }) {
  const { me } = useAuth();
  const operator = me?.scopes.includes('operator') ?? false;
  const refresh = useRefresh();
  const controls = useQuery({
    queryKey: ['controls'],
    queryFn: ({ signal }) => api<{ data: ControlView[] }>('/v1/controls', { signal }),
  });
  const set = async (body: ControlBody) => {
    await api('/v1/controls', { method: 'POST', body });
    await refresh();
  };
  const clear = async (body: Omit<ControlBody, 'reason'>) => {
    await api('/v1/controls/clear', { method: 'POST', body });
    await refresh();
  };
  const withReason = (reason: string) => (reason.trim() === '' ? {} : { reason: reason.trim() });

  return (
    <section aria-labelledby="kill-switches">
      <h2 id="kill-switches">Kill switches and pauses</h2>
      <h3>In force</h3>
      {controls.isPending ? (
        <Loading what="Loading controls" />
      ) : controls.isError ? (
        <ErrorView error={controls.error} title="Controls could not be read" />
      ) : controls.data.data.length === 0 ? (
        <p className="muted">No control is on: every tool, agent and deployment is enabled.</p>
      ) : (
        <div className="table-wrap" tabIndex={0}>
          <table>
            <caption className="visually-hidden">Controls in force</caption>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Target</th>
                <th scope="col">Tenant</th>
                <th scope="col">Reason</th>
                <th scope="col">Set by</th>
                <th scope="col">Since</th>
                <th scope="col">
                  <span className="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {controls.data.data.map((control) => {
                const clearable =
                  control.source === 'database' && (control.tenant_id === me?.tenant_id || operator);
                const name = `${KIND_LABELS[control.kind].toLowerCase()}: ${control.target}${control.agent === null ? '' : ` (agent ${control.agent})`}`;
                return (
                  <tr key={`${control.tenant_id}/${control.kind}/${control.target}/${control.agent ?? ''}`}>
                    <td>{KIND_LABELS[control.kind]}</td>
                    <td>
                      <code>{control.target}</code>
                      {control.agent !== null && <span className="muted"> for agent {control.agent}</span>}
                    </td>
                    <td>{control.tenant_id === '*' ? 'every tenant' : control.tenant_id}</td>
                    <td>{control.reason || <span className="muted">–</span>}</td>
                    <td>
                      <code>{control.set_by}</code>
                    </td>
                    <td>{time(control.set_at)}</td>
                    <td>
                      {clearable ? (
                        <Confirm
                          label={control.kind === 'agent_paused' ? 'Resume' : 'Clear'}
                          question={`Clear ${name}?`}
                          onConfirm={() =>
                            control.kind === 'agent_paused'
                              ? api(`/v1/agents/${encodeURIComponent(control.target)}/resume`, {
                                  method: 'POST',
                                  body: { tenant_id: control.tenant_id },
                                }).then(refresh)
                              : clear({
                                  kind: control.kind,
                                  target: control.target,
                                  ...(control.agent === null ? {} : { agent: control.agent }),
                                  tenant_id: control.tenant_id,
                                })
                          }
                        />
                      ) : (
                        <span className="muted">
                          {control.source === 'env' ? 'set by the environment' : 'needs operator'}
                        </span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      <h3>Agents and tools</h3>
      {agents.map((agent) => (
        <div className="control-agent" key={agent.name}>
          <div className="control-agent-head">
            <strong>{agent.name}</strong>{' '}
            {agent.hold === null ? (
              <span className="badge ok">active</span>
            ) : (
              <span className="badge bad" title={agent.hold.reason}>
                {agent.hold.code === 'agent_disabled' ? 'disabled' : 'paused'}
              </span>
            )}
            <span className="toolbar-inline">
              {agent.hold?.code === 'agent_paused' ? (
                <ResumeAgent
                  agent={agent.name}
                  pause={controls.data?.data.find(
                    (control) => control.kind === 'agent_paused' && control.target === agent.name,
                  )}
                  canClear={(tenant) => tenant === me?.tenant_id || operator}
                  onResume={(tenant) =>
                    api(`/v1/agents/${encodeURIComponent(agent.name)}/resume`, {
                      method: 'POST',
                      body: { tenant_id: tenant },
                    }).then(refresh)
                  }
                />
              ) : agent.hold === null ? (
                <Confirm
                  label={`Pause ${agent.name}`}
                  question={`Pause agent ${agent.name}? New runs are refused; running ones stop at their next model step.`}
                  input={REASON}
                  onConfirm={(reason) =>
                    api(`/v1/agents/${encodeURIComponent(agent.name)}/pause`, {
                      method: 'POST',
                      body: withReason(reason),
                    }).then(refresh)
                  }
                />
              ) : null}
              {agent.hold?.code === 'agent_disabled' ? (
                <Confirm
                  label={`Enable ${agent.name}`}
                  question={`Enable agent ${agent.name} again?`}
                  onConfirm={() => clear({ kind: 'agent_disabled', target: agent.name })}
                />
              ) : (
                <Confirm
                  danger
                  label={`Disable ${agent.name}`}
                  question={`Disable agent ${agent.name}? Its runs are refused until it is enabled.`}
                  input={REASON}
                  onConfirm={(reason) =>
                    set({ kind: 'agent_disabled', target: agent.name, ...withReason(reason) })
                  }
                />
              )}
            </span>
          </div>
          <div className="table-wrap" tabIndex={0}>
            <table>
              <caption className="visually-hidden">Tools of {agent.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Tool</th>
                  <th scope="col">Effect</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {agent.tools.map((tool) => {
                  const control = controls.data?.data.find(
                    (candidate) =>
                      candidate.kind === 'tool_disabled' &&
                      candidate.target === tool.name &&
                      (candidate.agent === null || candidate.agent === agent.name),
                  );
                  return (
                    <tr key={tool.name}>
                      <td>
                        <code>{tool.name}</code>
                      </td>
                      <td>{tool.effect}</td>
                      <td>
                        {tool.disabled ? (
                          <span className="badge bad">
                            disabled
                            {control === undefined
                              ? ''
                              : control.agent === null
                                ? ' (every agent)'
                                : ' (this agent)'}
                          </span>
                        ) : (
                          <span className="badge ok">enabled</span>
                        )}
                      </td>
                      <td className="row-actions">
                        {tool.disabled ? (
                          control !== undefined &&
                          control.source === 'database' &&
                          (control.tenant_id === me?.tenant_id || operator) && (
                            <Confirm
                              label={`Enable ${tool.name}`}
                              question={`Enable tool ${tool.name}${control.agent === null ? ' for every agent' : ` for ${agent.name}`}?`}
                              onConfirm={() =>
                                clear({
                                  kind: 'tool_disabled',
                                  target: tool.name,
                                  ...(control.agent === null ? {} : { agent: control.agent }),
                                  tenant_id: control.tenant_id,
                                })
                              }
                            />
                          )
                        ) : (
                          <>
                            <Confirm
                              danger
                              label={`Disable ${tool.name}`}
                              question={`Disable tool ${tool.name} for every agent?`}
                              input={REASON}
                              onConfirm={(reason) =>
                                set({ kind: 'tool_disabled', target: tool.name, ...withReason(reason) })
                              }
                            />
                            <Confirm
                              label={`Disable for ${agent.name} only`}
                              question={`Disable tool ${tool.name} for agent ${agent.name} only?`}
                              confirmLabel={`Disable ${tool.name}`}
                              input={REASON}
                              onConfirm={(reason) =>
                                set({
                                  kind: 'tool_disabled',
                                  target: tool.name,
                                  agent: agent.name,
                                  ...withReason(reason),
                                })
                              }
                            />
                          </>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </div>
      ))}

      <h3>Gateway deployments</h3>
      {operator ? (
        <DeploymentSwitch controls={controls.data?.data ?? []} onSet={set} onClear={clear} />
      ) : (
        <p className="muted">
          A deployment&apos;s switch applies to every tenant: it needs a key with the <code>operator</code>{' '}
          scope.
        </p>
      )}
    </section>
  );
}

/** Resume of a paused agent: the pause's own tenant, which a tenant's admin may clear only in its tenant. */
function ResumeAgent({
  agent,
  pause,
  canClear,
  onResume,
}: {
  agent: string;
  pause: ControlView | undefined;
  canClear(tenant: string): boolean;
  onResume(tenant: string): Promise<unknown>;
}) {
  // No pause of the agent itself: its tenant is paused (by hand or by a spend breaker).
  if (pause === undefined) return <span className="muted">its tenant is paused</span>;
  if (!canClear(pause.tenant_id))
    return <span className="muted">paused for every tenant: resuming needs operator</span>;
  return (
    <Confirm
      label={`Resume ${agent}`}
      question={`Resume agent ${agent}${pause.tenant_id === '*' ? ' for every tenant' : ''}?`}
      onConfirm={() => onResume(pause.tenant_id)}
    />
  );
}

function DeploymentSwitch({
  controls,
  onSet,
  onClear,
}: {
  controls: ControlView[];
  onSet(body: ControlBody): Promise<void>;
  onClear(body: Omit<ControlBody, 'reason'>): Promise<void>;
}) {
  const [name, setName] = useState('');
  const inputId = useId();
  const listId = useId();
  const deployments = useQuery({
    queryKey: ['gateway', 'deployments'],
    queryFn: ({ signal }) =>
      api<{ configured: boolean; data: GatewayDeployment[] }>('/v1/gateway/deployments', { signal }),
  });
  const target = name.trim();
  const disabled = controls.some(
    (control) => control.kind === 'deployment_disabled' && control.target === target,
  );
  return (
    <div className="toolbar">
      <label htmlFor={inputId}>Deployment</label>
      <input
        id={inputId}
        list={listId}
        value={name}
        placeholder={deployments.data?.configured === false ? 'a deployment name' : 'choose or type'}
        onChange={(event) => setName(event.target.value)}
      />
      <datalist id={listId}>
        {deployments.data?.data.map((deployment) => (
          <option key={deployment.name} value={deployment.name} />
        ))}
      </datalist>
      {disabled ? (
        <Confirm
          label="Enable deployment"
          question={`Enable deployment ${target} again (every tenant)?`}
          onConfirm={() => onClear({ kind: 'deployment_disabled', target })}
        />
      ) : (
        <Confirm
          danger
          disabled={target === ''}
          label="Disable deployment"
          question={`Disable deployment ${target} for every tenant?`}
          input={REASON}
          onConfirm={(reason) =>
            onSet({
              kind: 'deployment_disabled',
              target,
              ...(reason.trim() === '' ? {} : { reason: reason.trim() }),
            })
          }
        />
      )}
    </div>
  );
}
