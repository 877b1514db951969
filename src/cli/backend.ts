import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { KeelError } from '../errors/keel-error.js';
import { parseServerSentEvents, type ServerSentEvent } from '../model/sse.js';
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import type { RunStatus } from '../journal/types.js';
import { createJsonLogger, type Logger } from '../util/logger.js';
import type { ControlAdmin, ControlView } from '../server/control-routes.js';
import type { KeyAdmin, KeyView } from '../server/key-routes.js';
import type { AuditView } from '../server/audit-routes.js';
import type { ApprovalView } from '../server/approval-routes.js';
import type { ErasureCounts } from '../governance/user-erasure.js';
import type {
  PromptAdmin,
  PromptListView,
  PromptPinView,
  PromptVersionView,
} from '../server/prompt-routes.js';
import { runView, stepView, type RunView, type StepView } from '../server/run-views.js';
import type { RunTrace } from '../server/run-trace.js';
import { readLocalAdminKey } from './admin-key.js';
import { acquireEmbeddedLock, readEmbeddedOwner } from './embedded-lock.js';

/** Where CLI commands read and submit runs: the store itself, or a running local server. */
export type Backend =
  | { mode: 'direct'; store: JournalStore; client: SqlClient; description: string; close(): Promise<void> }
  | { mode: 'remote'; api: RemoteApi; url: string; description: string; close(): Promise<void> };

export interface BackendOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Open the store even if a local server owns it (fails with store_locked instead). */
  directOnly?: boolean;
  migrate?: boolean;
  /** Where taking over a stale embedded lock is logged. Default: JSON lines on stderr. */
  logger?: Logger;
}

/** The folder of the embedded database and its lock: `KEEL_DATA_DIR` or `./.keel`. */
export function keelDirectory({
  env = process.env,
  cwd = process.cwd(),
}: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  return resolve(cwd, env.KEEL_DATA_DIR ?? '.keel');
}

/**
 * Opens the backend: `DATABASE_URL` → Postgres (shared by any number of processes); otherwise
 * the embedded PGlite in `.keel/`, or, when a `keel serve` holds it, that server's API.
 */
export async function openBackend({
  env = process.env,
  cwd = process.cwd(),
  directOnly = false,
  migrate = true,
  logger,
}: BackendOptions = {}): Promise<Backend> {
  const databaseUrl = env.DATABASE_URL;
  if (databaseUrl) {
    const { store, client } = await openStore({ databaseUrl, migrate });
    return {
      mode: 'direct',
      store,
      client,
      description: `postgres ${redactUrl(databaseUrl)}`,
      close: () => store.close(),
    };
  }
  const keelDir = keelDirectory({ env, cwd });
  const owner = readEmbeddedOwner(keelDir);
  if (owner?.url && !directOnly) {
    assertLoopbackUrl(owner.url, join(keelDir, 'lock'));
    return {
      mode: 'remote',
      api: createRemoteApi(owner.url, readLocalAdminKey(keelDir)),
      url: owner.url,
      description: `server ${owner.url}`,
      close: async () => {},
    };
  }
  const release = acquireEmbeddedLock(keelDir, { logger: logger ?? createJsonLogger() });
  try {
    const { store, client } = await openStore({ dataDir: resolve(keelDir, 'data'), migrate });
    return {
      mode: 'direct',
      store,
      client,
      description: `embedded ${keelDir}`,
      close: async () => {
        await store.close();
        release();
      },
    };
  } catch (error) {
    release();
    throw error;
  }
}

/**
 * The CLI sends the local admin key to the server the lock file names: only to this machine. A
 * lock that names any other address (written by hand, or by someone who could write the folder)
 * is refused with `server_url_not_loopback`, before any request.
 */
function assertLoopbackUrl(url: string, lockPath: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed !== undefined && parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname)) return;
  throw new KeelError({
    code: 'server_url_not_loopback',
    message:
      `The embedded database's lock file ${lockPath} names the server ${JSON.stringify(url)}, which is not a ` +
      `loopback address (127.0.0.0/8, ::1, localhost): the CLI sends its admin key only to this machine. ` +
      `Stop the server that wrote it, or use its API with a key of your own.`,
    fault: 'system',
    details: { url, lockPath },
  });
}

/** 127.0.0.0/8, ::1 (also as an IPv4-mapped address) or localhost; `hostname` as URL gives it. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) !== 6) return false;
  if (host === '::1') return true;
  // IPv4-mapped (::ffff:127.0.0.1, which URL writes as ::ffff:7f00:1).
  const mapped = /^::ffff:(.+)$/.exec(host)?.[1];
  if (mapped === undefined) return false;
  if (isIP(mapped) === 4) return mapped.startsWith('127.');
  const high = /^([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(mapped)?.[1];
  return high !== undefined && Number.parseInt(high, 16) >> 8 === 127;
}

/** A database URL with its credentials hidden, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** The slice of the HTTP API the CLI uses when a local server owns the embedded database. */
export interface RemoteApi extends KeyAdmin, ControlAdmin {
  submit(
    body: { agent: string; input: unknown; session_id?: string; user_id?: string; trigger?: string },
    idempotencyKey?: string,
  ): Promise<{ id: string; status: RunStatus }>;
  getRun(id: string): Promise<RunView | undefined>;
  listRuns(query: Record<string, string>): Promise<RunView[]>;
  getSteps(id: string, withOutputs: boolean): Promise<StepView[]>;
  /** `GET /v1/analytics/{summary|compare}` with `query` (the local admin key sees every tenant). */
  analytics(report: 'summary' | 'compare', query: Record<string, string>): Promise<unknown>;
  /** `GET /v1/runs/{id}/trace`; undefined for a run the server does not have. */
  getTrace(id: string): Promise<RunTrace | undefined>;
  /** Any other route: the parsed answer, undefined for a 404 (except on POST); errors as KeelError. */
  call<T>(path: string, init?: RequestInit): Promise<T | undefined>;
  /** `/v1/prompts/{agent}...` as the local admin key (tenant `default`). */
  prompts: PromptAdmin;
  /** `GET /v1/audit` with `query` (the local admin key is an operator: every tenant). */
  listAudit(query: Record<string, string>): Promise<{ data: AuditView[]; next_cursor: string | null }>;
  /** `DELETE /v1/users/{id}/data` in tenant `default`. */
  eraseUser(userId: string): Promise<{ user_id: string; tenant_id: string; erased: ErasureCounts }>;
  /** `GET /v1/approvals` with `query` (`run_id`, `status`, `limit`) in tenant `default`. */
  listApprovals(query: Record<string, string>): Promise<ApprovalView[]>;
  /** `POST /v1/approvals/{id}`: `approval_not_found`, `approval_not_pending` as the server answers. */
  decideApproval(
    id: string,
    body: { decision: 'approve' | 'reject'; reason?: string },
  ): Promise<ApprovalView>;
  /** `POST /v1/runs/{id}/cancel`: the run as it stands after the request (`run_not_found` if unknown). */
  cancelRun(id: string): Promise<RunView>;
  /** `POST /v1/runs/{id}/retry`: the new run (`run_not_found`, `run_not_dead`, `run_already_retried`). */
  retryRun(id: string): Promise<RunView>;
  /**
   * `GET /v1/runs/{id}/events` after `lastEventId` (sent as `Last-Event-ID`): the events as they
   * arrive, until the server ends the stream or the connection drops (the iteration then ends or
   * throws; see `followRun`). An answer other than 200 throws the server's error.
   */
  runEvents(id: string, lastEventId: string | undefined, signal: AbortSignal): AsyncIterable<ServerSentEvent>;
}

const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** The server's API, authenticated with the local admin key (which the server created). */
function createRemoteApi(baseUrl: string, apiKey: string | undefined): RemoteApi {
  /**
   * Sends a request; answers its status and JSON body, or throws the server's error. A 404 to
   * anything but a POST is an absent thing (undefined), unless `notFound: 'throw'` (an unknown
   * agent, an unknown version: the server's error says which).
   */
  async function send<T>(
    path: string,
    init: RequestInit = {},
    { notFound = 'undefined' }: { notFound?: 'undefined' | 'throw' } = {},
  ): Promise<{ status: number; data: T | undefined }> {
    let response: Response;
    try {
      response = await fetch(new URL(path, baseUrl), {
        ...init,
        headers: {
          'content-type': 'application/json',
          ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
          ...(init.headers as Record<string, string>),
        },
      });
    } catch (error) {
      throw new DatabaseUnavailableError(`The local Keel server at ${baseUrl} does not answer.`, error);
    }
    const text = await response.text();
    const data: unknown = text ? JSON.parse(text) : undefined;
    if (response.status === 404 && init.method !== 'POST' && notFound === 'undefined')
      return { status: 404, data: undefined };
    if (!response.ok) throw serverError(response.status, data);
    return { status: response.status, data: data as T };
  }
  async function* runEvents(
    id: string,
    lastEventId: string | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<ServerSentEvent> {
    const response = await fetch(new URL(`/v1/runs/${encodeURIComponent(id)}/events`, baseUrl), {
      signal,
      headers: {
        accept: 'text/event-stream',
        ...(apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }),
        ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
      },
    });
    if (!response.ok || response.body === null) {
      const text = await response.text();
      let data: unknown;
      try {
        data = text ? JSON.parse(text) : undefined;
      } catch {
        data = undefined;
      }
      throw serverError(response.status, data);
    }
    yield* parseServerSentEvents({ source: response.body, signal });
  }
  const call = async <T>(path: string, init: RequestInit = {}): Promise<T | undefined> =>
    (await send<T>(path, init)).data;
  const must = async <T>(path: string, init: RequestInit = {}): Promise<T> =>
    (await send<T>(path, init, { notFound: 'throw' })).data as T;
  const promptPath = (agent: string, rest = '') => `/v1/prompts/${encodeURIComponent(agent)}${rest}`;
  return {
    call,
    prompts: {
      async push(agent, body) {
        const { status, data } = await send<PromptVersionView>(promptPath(agent), {
          method: 'POST',
          body: JSON.stringify(body),
        });
        return { created: status === 201, version: data! };
      },
      list: (agent) => must<PromptListView>(promptPath(agent)),
      show: (agent, version) =>
        must<PromptVersionView>(promptPath(agent, `/versions/${encodeURIComponent(version)}`)),
      pin: (agent, version) =>
        must<PromptPinView>(promptPath(agent, '/pin'), { method: 'POST', body: JSON.stringify({ version }) }),
      rollback: (agent) => must<PromptPinView>(promptPath(agent, '/rollback'), { method: 'POST' }),
    },
    listAudit: (query) => must(`/v1/audit?${new URLSearchParams(query).toString()}`),
    listApprovals: async (query) =>
      (await must<{ data: ApprovalView[] }>(`/v1/approvals?${new URLSearchParams(query).toString()}`)).data,
    decideApproval: (id, body) =>
      must<ApprovalView>(`/v1/approvals/${encodeURIComponent(id)}`, {
        method: 'POST',
        body: JSON.stringify(body),
      }),
    runEvents,
    cancelRun: (id) => must<RunView>(`/v1/runs/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
    retryRun: (id) => must<RunView>(`/v1/runs/${encodeURIComponent(id)}/retry`, { method: 'POST' }),
    eraseUser: (userId) => must(`/v1/users/${encodeURIComponent(userId)}/data`, { method: 'DELETE' }),
    submit: async (body, idempotencyKey) =>
      (await call<{ id: string; status: RunStatus }>('/v1/runs', {
        method: 'POST',
        body: JSON.stringify(body),
        headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
      }))!,
    getRun: (id) => call<RunView>(`/v1/runs/${encodeURIComponent(id)}`),
    listRuns: async (query) =>
      (await call<{ data: RunView[] }>(`/v1/runs?${new URLSearchParams(query).toString()}`))?.data ?? [],
    createKey: async (body) =>
      (await call<KeyView & { key: string }>('/v1/keys', { method: 'POST', body: JSON.stringify(body) }))!,
    listKeys: async (tenantId) =>
      (
        await call<{ data: KeyView[] }>(
          `/v1/keys${tenantId === undefined ? '' : `?${new URLSearchParams({ tenant_id: tenantId }).toString()}`}`,
        )
      )?.data ?? [],
    revokeKey: async (id) => {
      try {
        return await call<KeyView>(`/v1/keys/${encodeURIComponent(id)}/revoke`, { method: 'POST' });
      } catch (error) {
        if (error instanceof KeelError && error.code === 'key_not_found') return undefined;
        throw error;
      }
    },
    setControl: async (body) =>
      (await call<ControlView>('/v1/controls', { method: 'POST', body: JSON.stringify(body) }))!,
    clearControl: async (body) => {
      try {
        return await call<ControlView>('/v1/controls/clear', { method: 'POST', body: JSON.stringify(body) });
      } catch (error) {
        if (error instanceof KeelError && error.code === 'control_not_found') return undefined;
        throw error;
      }
    },
    listControls: async (tenantId) =>
      (
        await call<{ data: ControlView[] }>(
          `/v1/controls${tenantId === undefined ? '' : `?${new URLSearchParams({ tenant_id: tenantId }).toString()}`}`,
        )
      )?.data ?? [],
    analytics: async (report, query) =>
      call<unknown>(`/v1/analytics/${report}?${new URLSearchParams(query).toString()}`),
    getTrace: (id) => call<RunTrace>(`/v1/runs/${encodeURIComponent(id)}/trace`),
    getSteps: async (id, withOutputs) =>
      (
        await call<{ data: StepView[] }>(
          `/v1/runs/${encodeURIComponent(id)}/steps?outputs=${String(withOutputs)}`,
        )
      )?.data ?? [],
  };
}

/** The server's error answer as a KeelError with its code (`http_<status>` when it has none). */
function serverError(status: number, data: unknown): KeelError {
  const parsed = errorBody.safeParse(data);
  return new KeelError({
    code: parsed.success ? parsed.data.error.code : `http_${status}`,
    message: parsed.success ? parsed.data.error.message : `Server answered ${status}.`,
    fault: status < 500 ? 'caller' : 'system',
  });
}

/** Reads a run in API shape from either backend. */
export async function fetchRun(backend: Backend, id: string): Promise<RunView | undefined> {
  if (backend.mode === 'remote') return backend.api.getRun(id);
  const run = await backend.store.getRun(id);
  return run ? runView(run) : undefined;
}

/** Reads a run's steps in API shape from either backend. */
export async function fetchSteps(backend: Backend, id: string, withOutputs: boolean): Promise<StepView[]> {
  if (backend.mode === 'remote') return backend.api.getSteps(id, withOutputs);
  return (await backend.store.loadSteps(id, { withOutputs })).map(stepView);
}
