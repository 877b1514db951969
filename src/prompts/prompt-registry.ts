import { createHash } from 'node:crypto';
import {
  EmptyPromptError,
  PromptNotPinnedError,
  PromptTooLargeError,
  PromptVersionNotFoundError,
} from '../errors/governance-errors.js';
import { appendAudit } from '../journal/audit-log.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient, SqlExecutor } from '../journal/sql-client.js';
import { toDate } from '../journal/sql-rows.js';
import { fromStorableText, toStorableText } from '../journal/storable-json.js';
import { systemClock, type Clock } from '../util/clock.js';

/** One stored version of an agent's instructions. Never changes once written. */
export interface PromptVersionRecord {
  tenantId: string;
  agent: string;
  /** Its name: `v1`, `v2`... (what `runs.prompt_version` records). */
  version: string;
  text: string;
  note: string | null;
  /** Hex SHA-256 of `text` (UTF-8). */
  sha256: string;
  /** Who pushed it: `key:<id>` of an API key, `cli:<user>`... */
  createdBy: string;
  createdAt: Date;
}

/** A version without its text (lists). */
export type PromptVersionSummary = Omit<PromptVersionRecord, 'text'>;

/** The pinned version of an agent, and the versions pinned before it (most recent last). */
export interface PromptPin {
  version: string;
  previous: string[];
  pinnedBy: string;
  pinnedAt: Date;
}

/** Who asks for a change, for the audit log. */
export interface PromptActor {
  tenantId: string;
  /** `key:<id>`, `cli:<user>`: recorded as the version's author and as the audit row's actor. */
  actor: string;
}

/**
 * Versions of agents' instructions per tenant, and the pinned one. A run records the version it
 * was created with (`resolvePromptVersion`), and the loop reads that version's text with
 * `resolveInstructions`, so a new pin changes new runs only and a replay reads the same text.
 */
export interface PromptRegistry {
  /**
   * Stores `text` as the agent's next version (`v1` first), audited as `prompt.push`. Pushing
   * the text of the newest version again stores nothing and returns it (`created: false`), so a
   * retried push does not make a second version.
   */
  push(input: PromptActor & { agent: string; text: string; note?: string | null }): Promise<{
    version: PromptVersionRecord;
    created: boolean;
  }>;
  /** The agent's versions, newest first, and its pin (undefined: the code's instructions). */
  list(input: { tenantId: string; agent: string }): Promise<{
    versions: PromptVersionSummary[];
    pin: PromptPin | undefined;
  }>;
  /** One version with its text; `prompt_version_not_found` when there is none of that name. */
  get(input: { tenantId: string; agent: string; version: string }): Promise<PromptVersionRecord>;
  /** Pins a version for new runs (audited as `prompt.pin`); pinning the pinned one changes nothing. */
  pin(input: PromptActor & { agent: string; version: string }): Promise<PromptPin>;
  /**
   * Pins the version pinned before the current one again, audited as `prompt.rollback`; with
   * none before it, removes the pin (new runs use the code's instructions: returns undefined).
   * `prompt_not_pinned` when nothing is pinned.
   */
  rollback(input: PromptActor & { agent: string }): Promise<PromptPin | undefined>;
  /** The pinned version's name, read from the database (run creation); undefined when none. */
  pinnedVersion(input: { tenantId: string; agent: string }): Promise<string | undefined>;
  /**
   * The text of a registry version a run recorded, for the agent loop; undefined for a `code:`
   * version or none (the agent's instructions in code apply). Cached without expiry: versions
   * never change. Throws `prompt_version_not_found` for a registry name that is not stored.
   */
  resolveInstructions(
    agentName: string,
    tenantId: string,
    promptVersion: string | null | undefined,
  ): Promise<string | undefined>;
}

/** Options of {@link createPromptRegistry}. */
export interface PromptRegistryOptions {
  client: SqlClient;
  /** Postgres schema of Keel's tables (default `keel`). */
  schema?: string;
  clock?: Clock;
  /** Versions whose text `resolveInstructions` keeps in memory (default 1,000). */
  maxCachedTexts?: number;
}

/** The longest prompt the registry keeps, in characters (a prompt is instructions, not a corpus). */
export const MAX_PROMPT_LENGTH = 200_000;
const MAX_NOTE_LENGTH = 2_000;
const VERSION_NAME = /^v?([1-9]\d{0,8})$/;
const UNIQUE_VIOLATION = '23505';
const PUSH_ATTEMPTS = 5;

/** `v3` → 3; undefined for anything that names no version. */
export function versionNumberOf(name: string): number | undefined {
  const match = VERSION_NAME.exec(name.trim());
  return match ? Number(match[1]) : undefined;
}

/** Whether a run's recorded `prompt_version` names a registry version (not `code:<hash>`). */
export function isRegistryVersion(promptVersion: string | null | undefined): promptVersion is string {
  return typeof promptVersion === 'string' && /^v[1-9]\d{0,8}$/.test(promptVersion);
}

interface VersionRow {
  tenant_id: string;
  agent: string;
  version: number;
  text?: string;
  note: string | null;
  sha256: string;
  created_by: string;
  created_at: Date | string;
}

interface PinRow {
  version: number;
  previous: number[] | null;
  pinned_by: string;
  pinned_at: Date | string;
}

/** The prompt registry over SQL (migration 20), its changes audited in the same transaction. */
export function createPromptRegistry({
  client,
  schema = DEFAULT_SCHEMA,
  clock = systemClock,
  maxCachedTexts = 1_000,
}: PromptRegistryOptions): PromptRegistry {
  assertSchemaName(schema);
  const versions = `${schema}.prompt_versions`;
  const pins = `${schema}.prompt_pins`;
  const texts = new Map<string, string>();
  const now = () => new Date(clock.now()).toISOString();

  const readPin = async (executor: SqlExecutor, tenantId: string, agent: string, lock: boolean) =>
    (
      await executor.query<PinRow>(
        `SELECT version, previous, pinned_by, pinned_at FROM ${pins}
         WHERE tenant_id = $1 AND agent = $2${lock ? ' FOR UPDATE' : ''}`,
        [tenantId, agent],
      )
    ).rows[0];

  const versionExists = async (executor: SqlExecutor, tenantId: string, agent: string, number: number) =>
    (
      await executor.query(`SELECT 1 FROM ${versions} WHERE tenant_id = $1 AND agent = $2 AND version = $3`, [
        tenantId,
        agent,
        number,
      ])
    ).rowCount > 0;

  const insertVersion = (input: PromptActor & { agent: string; text: string; note: string | null }) =>
    client.transaction(async (tx) => {
      const sha256 = createHash('sha256').update(input.text, 'utf8').digest('hex');
      const newest = (
        await tx.query<VersionRow>(
          `SELECT tenant_id, agent, version, text, note, sha256, created_by, created_at FROM ${versions}
           WHERE tenant_id = $1 AND agent = $2 ORDER BY version DESC LIMIT 1`,
          [input.tenantId, input.agent],
        )
      ).rows[0];
      if (newest !== undefined && newest.sha256 === sha256)
        return { version: toVersion(newest as VersionRow & { text: string }), created: false };
      const inserted = await tx.query<VersionRow>(
        `INSERT INTO ${versions} (tenant_id, agent, version, text, note, sha256, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz)
         RETURNING tenant_id, agent, version, text, note, sha256, created_by, created_at`,
        [
          input.tenantId,
          input.agent,
          (newest?.version ?? 0) + 1,
          toStorableText(input.text),
          input.note === null ? null : toStorableText(input.note),
          sha256,
          input.actor,
          now(),
        ],
      );
      const version = toVersion(inserted.rows[0]! as VersionRow & { text: string });
      await appendAudit(
        tx,
        {
          tenantId: input.tenantId,
          actor: input.actor,
          action: 'prompt.push',
          target: promptTarget(input.agent),
          after: { version: version.version, sha256, note: version.note },
        },
        { schema },
      );
      return { version, created: true };
    });

  const registry: PromptRegistry = {
    async push({ tenantId, actor, agent, text, note = null }) {
      if (text.trim() === '') throw new EmptyPromptError(agent);
      if (text.length > MAX_PROMPT_LENGTH)
        throw new PromptTooLargeError(agent, text.length, MAX_PROMPT_LENGTH);
      const keptNote = note === null || note.trim() === '' ? null : note.slice(0, MAX_NOTE_LENGTH);
      // Two pushes at once may pick the same number: the loser retries with the next one.
      for (let attempt = 1; ; attempt++) {
        try {
          return await insertVersion({ tenantId, actor, agent, text, note: keptNote });
        } catch (error) {
          if ((error as { code?: string }).code !== UNIQUE_VIOLATION || attempt >= PUSH_ATTEMPTS) throw error;
        }
      }
    },

    async list({ tenantId, agent }) {
      const rows = await client.query<VersionRow>(
        `SELECT tenant_id, agent, version, note, sha256, created_by, created_at FROM ${versions}
         WHERE tenant_id = $1 AND agent = $2 ORDER BY version DESC`,
        [tenantId, agent],
      );
      const pin = await readPin(client, tenantId, agent, false);
      return { versions: rows.rows.map(toSummary), pin: pin === undefined ? undefined : toPin(pin) };
    },

    async get({ tenantId, agent, version }) {
      const number = versionNumberOf(version);
      if (number === undefined) throw new PromptVersionNotFoundError(agent, version);
      const row = (
        await client.query<VersionRow>(
          `SELECT tenant_id, agent, version, text, note, sha256, created_by, created_at FROM ${versions}
           WHERE tenant_id = $1 AND agent = $2 AND version = $3`,
          [tenantId, agent, number],
        )
      ).rows[0];
      if (row === undefined) throw new PromptVersionNotFoundError(agent, version);
      return toVersion(row as VersionRow & { text: string });
    },

    async pin({ tenantId, actor, agent, version }) {
      const number = versionNumberOf(version);
      if (number === undefined) throw new PromptVersionNotFoundError(agent, version);
      return client.transaction(async (tx) => {
        const current = await readPin(tx, tenantId, agent, true);
        if (!(await versionExists(tx, tenantId, agent, number)))
          throw new PromptVersionNotFoundError(agent, version);
        if (current?.version === number) return toPin(current);
        const previous = current === undefined ? [] : [...(current.previous ?? []), current.version];
        const pinned = await writePin(tx, { tenantId, agent, version: number, previous, actor });
        await appendAudit(
          tx,
          {
            tenantId,
            actor,
            action: 'prompt.pin',
            target: promptTarget(agent),
            before: { version: current === undefined ? null : versionName(current.version) },
            after: { version: versionName(number) },
          },
          { schema },
        );
        return pinned;
      });
    },

    async rollback({ tenantId, actor, agent }) {
      return client.transaction(async (tx) => {
        const current = await readPin(tx, tenantId, agent, true);
        if (current === undefined) throw new PromptNotPinnedError(agent);
        const stack = [...(current.previous ?? [])];
        const restored = stack.pop();
        const pinned =
          restored === undefined
            ? undefined
            : await writePin(tx, { tenantId, agent, version: restored, previous: stack, actor });
        if (restored === undefined)
          await tx.query(`DELETE FROM ${pins} WHERE tenant_id = $1 AND agent = $2`, [tenantId, agent]);
        await appendAudit(
          tx,
          {
            tenantId,
            actor,
            action: 'prompt.rollback',
            target: promptTarget(agent),
            before: { version: versionName(current.version) },
            after: { version: restored === undefined ? null : versionName(restored) },
          },
          { schema },
        );
        return pinned;
      });
    },

    async pinnedVersion({ tenantId, agent }) {
      const pin = await readPin(client, tenantId, agent, false);
      return pin === undefined ? undefined : versionName(pin.version);
    },

    async resolveInstructions(agentName, tenantId, promptVersion) {
      if (!isRegistryVersion(promptVersion)) return undefined;
      const cacheKey = JSON.stringify([tenantId, agentName, promptVersion]);
      const cached = texts.get(cacheKey);
      if (cached !== undefined) return cached;
      const { text } = await registry.get({ tenantId, agent: agentName, version: promptVersion });
      texts.set(cacheKey, text);
      // Oldest first out: a Map iterates in insertion order.
      if (texts.size > Math.max(1, maxCachedTexts)) texts.delete(texts.keys().next().value!);
      return text;
    },
  };
  return registry;

  async function writePin(
    tx: SqlExecutor,
    input: { tenantId: string; agent: string; version: number; previous: number[]; actor: string },
  ): Promise<PromptPin> {
    const result = await tx.query<PinRow>(
      `INSERT INTO ${pins} (tenant_id, agent, version, previous, pinned_by, pinned_at)
       VALUES ($1, $2, $3, $4::int[], $5, $6::timestamptz)
       ON CONFLICT (tenant_id, agent) DO UPDATE
         SET version = EXCLUDED.version, previous = EXCLUDED.previous,
             pinned_by = EXCLUDED.pinned_by, pinned_at = EXCLUDED.pinned_at
       RETURNING version, previous, pinned_by, pinned_at`,
      [input.tenantId, input.agent, input.version, input.previous, input.actor, now()],
    );
    return toPin(result.rows[0]!);
  }
}

/** `3` → `v3`. */
export function versionName(number: number): string {
  return `v${number}`;
}

/** The audit target of an agent's prompt: `prompt:<agent>`. */
export function promptTarget(agent: string): string {
  return `prompt:${agent}`;
}

function toVersion(row: VersionRow & { text: string }): PromptVersionRecord {
  return { ...toSummary(row), text: fromStorableText(row.text) };
}

function toSummary(row: VersionRow): PromptVersionSummary {
  return {
    tenantId: row.tenant_id,
    agent: row.agent,
    version: versionName(Number(row.version)),
    note: row.note === null ? null : fromStorableText(row.note),
    sha256: row.sha256,
    createdBy: row.created_by,
    createdAt: toDate(row.created_at),
  };
}

function toPin(row: PinRow): PromptPin {
  return {
    version: versionName(Number(row.version)),
    previous: (row.previous ?? []).map((number) => versionName(Number(number))),
    pinnedBy: row.pinned_by,
    pinnedAt: toDate(row.pinned_at),
  };
}
