import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadConfig } from '../../config/load-config.js';
import { createPromptRegistry } from '../../prompts/prompt-registry.js';
import {
  promptAdmin,
  type PromptAdmin,
  type PromptListView,
  type PromptPinView,
} from '../../server/prompt-routes.js';
import { openBackend, type Backend } from '../backend.js';
import { cliActor } from '../cli-actor.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../render.js';
import { UsageError } from '../usage-error.js';

const USAGE = `Usage:
  keel prompts push <agent> --file p.md [--note N] [--tenant T] [--json]
  keel prompts list <agent> [--tenant T] [--json]
  keel prompts show <agent> [version] [--tenant T] [--json]
  keel prompts pin <agent> <version> [--tenant T] [--json]
  keel prompts rollback <agent> [--tenant T] [--json]`;

const ACTIONS = ['push', 'list', 'show', 'pin', 'rollback'] as const;
type Action = (typeof ACTIONS)[number];

/** The tenant the CLI acts for unless `--tenant` says otherwise (the local admin key's). */
export const CLI_TENANT = 'default';

/** Options of `keel prompts`, as parsed from the command line. */
export interface PromptsCommandOptions {
  action?: string;
  agent?: string;
  version?: string;
  file?: string;
  note?: string;
  tenant?: string;
  config?: string;
  json: boolean;
}

/**
 * `keel prompts push | list | show | pin | rollback`: the prompt registry of the agents in the
 * config. Direct on the database (as `cli:<user>`, in `--tenant`, default `default`), or through
 * a running `keel serve` that holds the embedded database (as its local admin key, tenant
 * `default`). A push stores a version; only a pin makes new runs use it.
 */
export async function promptsCommand(options: PromptsCommandOptions, io: CliIo): Promise<number> {
  const action = parseAction(options);
  const agent = options.agent!;
  const text = action === 'push' ? await readPromptFile(options.file, io.cwd) : undefined;
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    const prompts = await adminFor(backend, options, io);
    switch (action) {
      case 'push': {
        const pushed = await prompts.push(agent, {
          text: text!,
          ...(options.note === undefined ? {} : { note: options.note }),
        });
        io.stdout.write(
          options.json
            ? JSON.stringify(pushed) + '\n'
            : pushed.created
              ? `Pushed ${agent} ${pushed.version.version} (sha256 ${pushed.version.sha256.slice(0, 12)}). ` +
                `Pin it to use it: keel prompts pin ${agent} ${pushed.version.version}\n`
              : `${agent} ${pushed.version.version} already has this text: nothing pushed.\n`,
        );
        return EXIT.ok;
      }
      case 'list': {
        const listed = await prompts.list(agent);
        io.stdout.write(options.json ? JSON.stringify(listed) + '\n' : renderList(listed));
        return EXIT.ok;
      }
      case 'show': {
        const version = options.version ?? (await currentVersion(prompts, agent));
        const shown = await prompts.show(agent, version);
        io.stdout.write(
          options.json
            ? JSON.stringify(shown) + '\n'
            : `${shown.agent} ${shown.version}  ${shown.created_at}  ${shown.created_by}` +
                `${shown.note ? `  ${shown.note}` : ''}\n\n${shown.text}${shown.text.endsWith('\n') ? '' : '\n'}`,
        );
        return EXIT.ok;
      }
      case 'pin': {
        const pinned = await prompts.pin(agent, options.version!);
        io.stdout.write(options.json ? JSON.stringify(pinned) + '\n' : renderPin(pinned));
        return EXIT.ok;
      }
      case 'rollback': {
        const pinned = await prompts.rollback(agent);
        io.stdout.write(options.json ? JSON.stringify(pinned) + '\n' : renderPin(pinned));
        return EXIT.ok;
      }
    }
  } finally {
    await backend.close();
  }
}

function parseAction(options: PromptsCommandOptions): Action {
  const action = options.action as Action;
  if (!ACTIONS.includes(action)) throw new UsageError(USAGE);
  if (!options.agent) throw new UsageError(`keel prompts ${action} needs an agent.`, USAGE);
  if (action === 'pin' && !options.version)
    throw new UsageError(`keel prompts pin needs a version (v1, v2...).`, USAGE);
  if (action === 'push' && !options.file) throw new UsageError(`keel prompts push needs --file.`, USAGE);
  if (action !== 'push' && (options.file !== undefined || options.note !== undefined))
    throw new UsageError(`--file and --note go with keel prompts push only.`, USAGE);
  if (options.version !== undefined && action !== 'show' && action !== 'pin')
    throw new UsageError(`keel prompts ${action} takes no version.`, USAGE);
  return action;
}

async function readPromptFile(file: string | undefined, cwd: string): Promise<string> {
  const path = resolve(cwd, file!);
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read the prompt file ${path}: ${(error as Error).message}`);
  }
}

/** The registry in the API's shapes, over the database (checking agents in the config) or the server. */
async function adminFor(backend: Backend, options: PromptsCommandOptions, io: CliIo): Promise<PromptAdmin> {
  if (backend.mode === 'remote') {
    if (options.tenant !== undefined && options.tenant !== CLI_TENANT)
      throw new UsageError(
        `Through the running server (${backend.description}) the CLI acts for tenant "${CLI_TENANT}" only; ` +
          `use the HTTP API with a key of tenant "${options.tenant}".`,
      );
    return backend.api.prompts;
  }
  const { agents } = await loadConfig({ path: options.config, cwd: io.cwd, env: io.env });
  return promptAdmin({
    prompts: createPromptRegistry({ client: backend.client }),
    agents,
    tenantId: options.tenant ?? CLI_TENANT,
    actor: cliActor(io.env),
  });
}

/** What `show` without a version shows: the pinned version, else the newest. */
async function currentVersion(prompts: PromptAdmin, agent: string): Promise<string> {
  const listed = await prompts.list(agent);
  return listed.pinned_version ?? listed.data[0]?.version ?? 'v1';
}

function renderPin(pin: PromptPinView): string {
  return pin.pinned_version === null
    ? `${pin.agent}: nothing pinned; new runs use the instructions in code (${pin.code_version}).\n`
    : `${pin.agent}: ${pin.pinned_version} pinned; new runs use it.` +
        `${pin.previous_versions.length > 0 ? ` Before: ${pin.previous_versions.join(', ')}.` : ''}\n`;
}

function renderList(listed: PromptListView): string {
  const header = renderPin(listed);
  if (listed.data.length === 0) return `${header}No versions pushed.\n`;
  return (
    header +
    renderTable(
      ['VERSION', 'PINNED', 'CREATED', 'BY', 'SHA256', 'NOTE'],
      listed.data.map((version) => [
        version.version,
        version.version === listed.pinned_version ? '*' : '',
        version.created_at,
        version.created_by,
        version.sha256.slice(0, 12),
        version.note ?? '',
      ]),
    )
  );
}
