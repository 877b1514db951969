import { userInfo } from 'node:os';
import { ALL_TENANTS, createControls, type ControlKind } from '../../controls/controls.js';
import { controlAdmin, type ControlAdmin, type ControlView } from '../../server/control-routes.js';
import { openBackend } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../render.js';
import { UsageError } from '../usage-error.js';

export const CONTROLS_USAGE = `Usage:
  keel tools disable|enable <tool> [--agent A] [--tenant T] [--reason R]
  keel tools list [--tenant T] [--json]
  keel deployments disable|enable <name> [--reason R]
  keel agents pause|resume <agent> [--tenant T] [--reason R]
Without --tenant a control applies to every tenant. Changes reach every process within 1 s.`;

/** Options of the control commands, as parsed from the command line. */
export interface ControlCommandOptions {
  /** `tools`, `deployments` or `agents`. */
  noun: string;
  action?: string;
  target?: string;
  agent?: string;
  tenant?: string;
  reason?: string;
  json: boolean;
}

/** What each noun's actions do: the control kind, and whether the action turns it on. */
const ACTIONS: Record<string, Record<string, { kind: ControlKind; on: boolean }>> = {
  tools: { disable: { kind: 'tool_disabled', on: true }, enable: { kind: 'tool_disabled', on: false } },
  deployments: {
    disable: { kind: 'deployment_disabled', on: true },
    enable: { kind: 'deployment_disabled', on: false },
  },
  agents: { pause: { kind: 'agent_paused', on: true }, resume: { kind: 'agent_paused', on: false } },
};

/**
 * `keel tools disable|enable`, `keel deployments disable|enable`, `keel agents pause|resume`:
 * runtime kill switches in the shared database, audited with the CLI user as actor. With the
 * embedded database held by a running `keel serve`, they go through its `/v1/controls` API with
 * the local admin key (operator scope: every tenant).
 */
export async function controlsCommand(options: ControlCommandOptions, io: CliIo): Promise<number> {
  const { noun, action, target } = options;
  const listing = noun === 'tools' && action === 'list';
  const step = action === undefined ? undefined : ACTIONS[noun]?.[action];
  if (!listing && step === undefined) throw new UsageError(CONTROLS_USAGE);
  if (!listing && !target) throw new UsageError(`keel ${noun} ${action} needs a name.`, CONTROLS_USAGE);
  if (options.agent !== undefined && noun !== 'tools')
    throw new UsageError(`--agent applies to keel tools only.`, CONTROLS_USAGE);
  if (options.tenant !== undefined && noun === 'deployments')
    throw new UsageError(`A deployment is shared by every tenant: keel deployments takes no --tenant.`);

  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    const admin: ControlAdmin =
      backend.mode === 'direct'
        ? controlAdmin(createControls({ client: backend.client, env: {} }), `cli:${cliUser(io)}`)
        : backend.api;
    if (listing) {
      const views = (await admin.listControls(options.tenant)).filter(
        (view) => view.kind === 'tool_disabled',
      );
      io.stdout.write(options.json ? JSON.stringify(views) + '\n' : renderToolTable(views));
      return EXIT.ok;
    }
    const { kind, on } = step as { kind: ControlKind; on: boolean };
    const body = {
      kind,
      target: target as string,
      tenant_id: options.tenant ?? ALL_TENANTS,
      ...(options.agent === undefined ? {} : { agent: options.agent }),
    };
    const scope = `${options.agent === undefined ? '' : ` for agent ${options.agent}`}${
      body.tenant_id === ALL_TENANTS ? '' : ` in tenant ${body.tenant_id}`
    }`;
    const thing = `${noun.slice(0, -1)} ${target}`;
    if (on) {
      const view = await admin.setControl({
        ...body,
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      });
      io.stdout.write(
        options.json ? JSON.stringify(view) + '\n' : `${capitalize(thing)} ${pastTense(action)}${scope}.\n`,
      );
      return EXIT.ok;
    }
    const cleared = await admin.clearControl(body);
    io.stdout.write(
      options.json
        ? JSON.stringify(cleared ?? null) + '\n'
        : cleared === undefined
          ? `${capitalize(thing)} was not ${pastTense(oppositeOf(action))}${scope}: nothing to do.\n`
          : `${capitalize(thing)} ${pastTense(action)}${scope}.\n`,
    );
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}

function cliUser(io: CliIo): string {
  try {
    return userInfo().username;
  } catch {
    return io.env.USER ?? 'unknown';
  }
}

function oppositeOf(action: string | undefined): string {
  return action === 'enable' ? 'disable' : action === 'resume' ? 'pause' : String(action);
}

function pastTense(action: string | undefined): string {
  return action === 'pause' ? 'paused' : action === 'resume' ? 'resumed' : `${String(action)}d`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function renderToolTable(views: ControlView[]): string {
  if (views.length === 0) return 'No tools disabled.\n';
  return renderTable(
    ['TOOL', 'AGENT', 'TENANT', 'REASON', 'SET BY', 'SET AT', 'SOURCE'],
    views.map((view) => [
      view.target,
      view.agent ?? '*',
      view.tenant_id,
      view.reason || '-',
      view.set_by,
      view.set_at,
      view.source,
    ]),
  );
}
