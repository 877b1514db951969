import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { KeelError } from '../errors/keel-error.js';
import { appendAudit } from '../journal/audit-log.js';
import { assertSchemaName, DEFAULT_SCHEMA } from '../journal/migrations.js';
import type { SqlClient } from '../journal/sql-client.js';
import { toDate } from '../journal/sql-rows.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { createId } from '../util/ids.js';
import type { IdGenerator } from '../util/ids.js';
import { silentLogger } from '../util/logger.js';
import type { Logger } from '../util/logger.js';

/**
 * What a key may do. `admin`: everything in its own tenant, its keys included. `operator`: manage
 * the API keys of every tenant (and nothing else): an operator's credential, never a tenant's.
 * `runs:read_payloads`: read the payloads of steps (model responses, tool outputs) besides what
 * `runs:read` shows. `metrics`: scrape `GET /metrics`.
 */
export const API_KEY_SCOPES = [
  'runs:read',
  'runs:read_payloads',
  'runs:write',
  'approvals',
  'gateway',
  'admin',
  'operator',
  'metrics',
] as const;
/** What an API key may do (`runs:read`, `runs:write`, `approvals`, `gateway`, `admin`, …). */
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** A key as stored and listed: never its secret nor the secret's hash. */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  /** A label for people ('' when none was given). */
  name: string;
  /** The visible start of the key, e.g. `keel_sk_ab12cd34`, to tell keys apart. */
  prefix: string;
  scopes: ApiKeyScope[];
  /** Per-key limits the gateway enforces across all its processes. */
  rpm?: number;
  tpm?: number;
  createdAt: Date;
  /** Approximate: updated at most once a minute. */
  lastUsedAt?: Date;
  revokedAt?: Date;
  expiresAt?: Date;
}

/** What `create` needs. */
export interface NewApiKey {
  tenantId: string;
  name?: string;
  scopes: readonly ApiKeyScope[];
  rpm?: number;
  tpm?: number;
  expiresAt?: Date;
  /**
   * Who creates it, for the audit log: `key:<id>` of the calling key, `cli:<user>`, or
   * `system:<component>` (default `system:keel`).
   */
  actor?: string;
}

/** The actor of an API key change nobody named (a bootstrap key). */
export const SYSTEM_ACTOR = 'system:keel';

/** Tenants' API keys, stored hashed in the shared database. */
export interface ApiKeys {
  /**
   * Creates a key, audited as `api_key.create` in the same transaction (never the secret). `key`
   * is the full secret: shown once, never stored, never retrievable.
   */
  create(key: NewApiKey): Promise<{ key: string; record: ApiKeyRecord }>;
  /** The key's record, or undefined when the key is malformed, unknown, revoked or expired. */
  verify(presentedKey: string): Promise<ApiKeyRecord | undefined>;
  /** Keys newest first, revoked and expired ones included (with `revokedAt` / `expiresAt`). */
  list(filter?: { tenantId?: string }): Promise<ApiKeyRecord[]>;
  /**
   * Revokes a key (idempotent); undefined when no such key (of that tenant, if given). The
   * revocation is audited as `api_key.revoke` (by `actor`, default `system:keel`) in the same
   * transaction; repeating it changes nothing and writes no second row.
   */
  revoke(id: string, options?: { tenantId?: string; actor?: string }): Promise<ApiKeyRecord | undefined>;
}

/** Options of `createApiKeys`. */
export interface ApiKeysOptions {
  client: SqlClient;
  /** Postgres schema of the tables (default `keel`); validated, then interpolated into SQL. */
  schema?: string;
  /** Stamps creation, use and revocation, and decides expiry. */
  clock?: Clock;
  /** How long `verify` trusts what it looked up, found or not (default 10 s). */
  cacheTtlMs?: number;
  /** Keys remembered by `verify` (default 10,000; unknown keys get a tenth of that). */
  maxCached?: number;
  generateId?: IdGenerator;
  /** Where failed `last_used_at` updates are reported (debug). */
  logger?: Logger;
}

export const API_KEY_PREFIX = 'keel_sk_';
/** 32 random bytes in base62 take 43 characters (62^43 > 2^256). */
const SECRET_LENGTH = 43;
const VISIBLE_SECRET_CHARACTERS = 8;
const KEY_PATTERN = new RegExp(`^${API_KEY_PREFIX}[0-9A-Za-z]{${SECRET_LENGTH}}$`);
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const TOUCH_INTERVAL_MS = 60_000;

const newApiKeySchema = z.object({
  tenantId: z.string().min(1).max(200),
  name: z.string().max(200).optional(),
  scopes: z.array(z.enum(API_KEY_SCOPES)).min(1),
  rpm: z.number().int().positive().max(2_147_483_647).optional(),
  tpm: z.number().int().positive().max(2_147_483_647).optional(),
  expiresAt: z.date().optional(),
  actor: z.string().min(1).max(300).optional(),
});

/**
 * API keys over SQL. A key is `keel_sk_` + 43 base62 characters (32 random bytes); the
 * database keeps only its SHA-256 (see migration 0003 for why not bcrypt), so `verify` is one
 * indexed lookup by hash: no constant-time comparison is needed, since a timing difference
 * could only reveal bits of a hash, not of a key.
 *
 * `verify` is on every request's path, so it rejects malformed keys without a query and
 * remembers answers, positive and negative, for `cacheTtlMs` in small LRUs (unknown keys in a
 * separate, smaller one, so a flood of made-up keys cannot evict real ones). Concurrent
 * lookups of the same key share one query. Consequence: a key revoked in this process stops
 * working at once; a key revoked by another process keeps working here for up to `cacheTtlMs`,
 * and a key just created elsewhere may be refused here for that long if it was presented
 * before it existed. Expiry is checked on every call. `last_used_at` is written at most once a
 * minute per key, without making `verify` wait.
 */
export function createApiKeys({
  client,
  schema = DEFAULT_SCHEMA,
  clock = systemClock,
  cacheTtlMs = 10_000,
  maxCached = 10_000,
  generateId = createId,
  logger = silentLogger,
}: ApiKeysOptions): ApiKeys {
  assertSchemaName(schema);
  const table = `${schema}.api_keys`;
  const columns =
    'id, tenant_id, name, prefix, scopes, rpm, tpm, created_at, last_used_at, revoked_at, expires_at';
  const known = new LruCache<string, ApiKeyRecord>(Math.max(1, maxCached));
  const unknown = new LruCache<string, true>(Math.max(1, Math.floor(maxCached / 10)));
  const lookups = new Map<string, Promise<ApiKeyRecord | undefined>>();
  const touchedAt = new LruCache<string, number>(Math.max(1, maxCached));

  const lookUp = async (hash: string): Promise<ApiKeyRecord | undefined> => {
    const result = await client.query<ApiKeyRow>(
      `SELECT ${columns} FROM ${table} WHERE secret_hash = $1 AND revoked_at IS NULL`,
      [hash],
    );
    const row = result.rows[0];
    const record = row ? toRecord(row) : undefined;
    const until = clock.now() + cacheTtlMs;
    if (record) known.set(hash, record, until);
    else unknown.set(hash, true, until);
    return record;
  };

  const touch = (record: ApiKeyRecord, now: number) => {
    const last = touchedAt.get(record.id, now);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    touchedAt.set(record.id, now, now + TOUCH_INTERVAL_MS);
    const timestamp = new Date(now).toISOString();
    // Not awaited; the condition keeps other processes from writing it more than once a minute too.
    client
      .query(
        `UPDATE ${table} SET last_used_at = $2::timestamptz
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '1 minute')`,
        [record.id, timestamp],
      )
      .catch((error: unknown) => {
        logger.debug('api key last_used_at not updated', {
          keyId: record.id,
          error: error instanceof Error ? error.message : String(error),
        });
      });
  };

  return {
    async create(newKey) {
      const parsed = newApiKeySchema.safeParse(newKey);
      if (!parsed.success) {
        throw new KeelError({
          code: 'invalid_request',
          message: `Invalid API key: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
          fault: 'caller',
        });
      }
      const { tenantId, name, scopes, rpm, tpm, expiresAt, actor = SYSTEM_ACTOR } = parsed.data;
      const key = API_KEY_PREFIX + toBase62(randomBytes(32), SECRET_LENGTH);
      const record = await client.transaction(async (tx) => {
        const result = await tx.query<ApiKeyRow>(
          `INSERT INTO ${table} (id, tenant_id, name, prefix, secret_hash, scopes, rpm, tpm, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9::timestamptz, $10::timestamptz)
           RETURNING ${columns}`,
          [
            generateId('key'),
            tenantId,
            name ?? null,
            key.slice(0, API_KEY_PREFIX.length + VISIBLE_SECRET_CHARACTERS),
            hashKey(key),
            [...new Set(scopes)],
            rpm ?? null,
            tpm ?? null,
            new Date(clock.now()).toISOString(),
            expiresAt?.toISOString() ?? null,
          ],
        );
        const row = result.rows[0];
        if (!row) throw new Error('Creating an API key returned no row.');
        const created = toRecord(row);
        await appendAudit(
          tx,
          {
            tenantId,
            actor,
            action: 'api_key.create',
            target: `api_key:${created.id}`,
            after: auditedKey(created),
          },
          { schema },
        );
        return created;
      });
      return { key, record };
    },

    async verify(presentedKey) {
      if (typeof presentedKey !== 'string' || !KEY_PATTERN.test(presentedKey)) return undefined;
      const hash = hashKey(presentedKey);
      const now = clock.now();
      let record = known.get(hash, now);
      if (record === undefined) {
        if (unknown.get(hash, now)) return undefined;
        let lookup = lookups.get(hash);
        if (lookup === undefined) {
          lookup = lookUp(hash).finally(() => lookups.delete(hash));
          lookups.set(hash, lookup);
        }
        record = await lookup;
      }
      if (record === undefined) return undefined;
      if (record.expiresAt !== undefined && record.expiresAt.getTime() <= now) return undefined;
      touch(record, now);
      return record;
    },

    async list({ tenantId } = {}) {
      const result = await client.query<ApiKeyRow>(
        `SELECT ${columns} FROM ${table}
         WHERE $1::text IS NULL OR tenant_id = $1::text
         ORDER BY created_at DESC, id DESC`,
        [tenantId ?? null],
      );
      return result.rows.map(toRecord);
    },

    async revoke(id, { tenantId, actor = SYSTEM_ACTOR } = {}) {
      const record = await client.transaction(async (tx) => {
        const current = await tx.query<{ revoked: boolean }>(
          `SELECT revoked_at IS NOT NULL AS revoked FROM ${table}
           WHERE id = $1 AND ($2::text IS NULL OR tenant_id = $2::text) FOR UPDATE`,
          [id, tenantId ?? null],
        );
        const found = current.rows[0];
        if (found === undefined) return undefined;
        const result = await tx.query<ApiKeyRow>(
          `UPDATE ${table} SET revoked_at = coalesce(revoked_at, $2::timestamptz) WHERE id = $1 RETURNING ${columns}`,
          [id, new Date(clock.now()).toISOString()],
        );
        const revoked = toRecord(result.rows[0]!);
        if (!found.revoked)
          await appendAudit(
            tx,
            {
              tenantId: revoked.tenantId,
              actor,
              action: 'api_key.revoke',
              target: `api_key:${id}`,
              before: { status: 'active' },
              after: { status: 'revoked', revoked_at: revoked.revokedAt?.toISOString() ?? null },
            },
            { schema },
          );
        return revoked;
      });
      if (record === undefined) return undefined;
      known.deleteWhere((cached) => cached.id === id);
      return record;
    },
  };
}

/** What the audit log keeps of a key: never its secret nor the secret's hash. */
function auditedKey(record: ApiKeyRecord) {
  return {
    tenant_id: record.tenantId,
    name: record.name,
    prefix: record.prefix,
    scopes: record.scopes,
    rpm: record.rpm ?? null,
    tpm: record.tpm ?? null,
    expires_at: record.expiresAt?.toISOString() ?? null,
  };
}

/** The hex SHA-256 of a full key, as stored in `secret_hash`. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** True when `value` has the shape of a Keel API key (says nothing about whether it exists). */
export function isApiKeyShaped(value: string): boolean {
  return KEY_PATTERN.test(value);
}

function toBase62(bytes: Uint8Array, length: number): string {
  let value = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
  let digits = '';
  while (value > 0n) {
    digits = BASE62[Number(value % 62n)] + digits;
    value /= 62n;
  }
  return digits.padStart(length, '0');
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  name: string | null;
  prefix: string;
  scopes: string[];
  rpm: number | null;
  tpm: number | null;
  created_at: Date | string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
  expires_at: Date | string | null;
}

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name ?? '',
    prefix: row.prefix,
    // Scopes this version does not know (written by a newer one) grant nothing here.
    scopes: row.scopes.filter((scope): scope is ApiKeyScope =>
      (API_KEY_SCOPES as readonly string[]).includes(scope),
    ),
    ...(row.rpm === null ? {} : { rpm: Number(row.rpm) }),
    ...(row.tpm === null ? {} : { tpm: Number(row.tpm) }),
    createdAt: toDate(row.created_at),
    ...(row.last_used_at === null ? {} : { lastUsedAt: toDate(row.last_used_at) }),
    ...(row.revoked_at === null ? {} : { revokedAt: toDate(row.revoked_at) }),
    ...(row.expires_at === null ? {} : { expiresAt: toDate(row.expires_at) }),
  };
}

/** A Map in least-recently-used order, with a per-entry expiry and a size bound. */
class LruCache<Key, Value> {
  private readonly entries = new Map<Key, { value: Value; until: number }>();

  constructor(private readonly capacity: number) {}

  get(key: Key, now: number): Value | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.until <= now) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: Key, value: Value, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  deleteWhere(predicate: (value: Value) => boolean): void {
    for (const [key, entry] of this.entries) if (predicate(entry.value)) this.entries.delete(key);
  }
}
