import { KeelError } from '../errors/keel-error.js';
import type { AgentHold, Control } from './controls.js';

/** A control that cannot exist (an unknown kind, a malformed target): the field is named. */
export class InvalidControlError extends KeelError {
  constructor(field: string, problem: string) {
    super({
      code: 'invalid_control',
      message: `Invalid control: ${field} ${problem}.`,
      fault: 'caller',
      details: { field },
    });
  }
}

/** No such control is on (clearing one that is not set, through the API). */
export class ControlNotFoundError extends KeelError {
  constructor(kind: string, target: string) {
    super({
      code: 'control_not_found',
      message: `No ${kind} control on ${target}.`,
      fault: 'caller',
      details: { kind, target },
    });
  }
}

/**
 * A run refused because its agent is paused (by hand or by a spend breaker) or disabled: the
 * answer to `POST /v1/runs` (409) and the error a run in flight stops with.
 */
export class AgentHeldError extends KeelError {
  constructor(
    code: 'agent_paused' | 'agent_disabled',
    agent: string,
    { reason, setBy, tenantPaused = false }: { reason: string; setBy: string; tenantPaused?: boolean },
  ) {
    const what =
      code === 'agent_disabled' ? 'disabled' : tenantPaused ? 'paused (its tenant is paused)' : 'paused';
    super({
      code,
      message: `Agent ${agent} is ${what}${reason ? `: ${reason}` : ''} (by ${setBy}).`,
      fault: 'caller',
      details: { agent, reason, setBy, ...(tenantPaused ? { tenantPaused } : {}) },
    });
  }
}

/** The error a run of `agent` meets under `hold` (409 at submission, the stop error in flight). */
export function agentHeldError(agent: string, hold: AgentHold): AgentHeldError {
  return new AgentHeldError(hold.code, agent, {
    reason: hold.control.reason,
    setBy: hold.control.setBy,
    tenantPaused: hold.control.kind === 'tenant_paused',
  });
}

/** A gateway call of a paused tenant (by hand, or by its spend breaker): 409 `tenant_paused`. */
export class TenantPausedError extends KeelError {
  constructor(tenantId: string, control: Control) {
    super({
      code: 'tenant_paused',
      message: `Tenant ${tenantId} is paused${control.reason ? `: ${control.reason}` : ''} (by ${control.setBy}).`,
      fault: 'caller',
      details: { tenantId, reason: control.reason, setBy: control.setBy },
    });
  }
}
