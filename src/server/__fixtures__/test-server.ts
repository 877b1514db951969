import { createBudgetStore } from '../../budgets/budget-store.js';
import type { AddressInfo } from 'node:net';
import { createAnalytics } from '../../analytics/analytics-store.js';
import { createAuditLog } from '../../governance/audit-query.js';
import { createUserErasure } from '../../governance/user-erasure.js';
import { createPromptRegistry } from '../../prompts/prompt-registry.js';
import { createControls, type Controls } from '../../controls/controls.js';
import { createApiKeys, type ApiKeys, type ApiKeyScope } from '../../gateway/api-keys.js';
import { openStore } from '../../journal/open-store.js';
import type { SqlClient } from '../../journal/sql-client.js';
import type { JournalStore } from '../../journal/store.js';
import type { Lease } from '../../journal/types.js';
import { defineAgent } from '../../runtime/agent.js';
import { silentLogger } from '../../util/logger.js';
import { createServer, type ServerOptions } from '../create-server.js';
import { createRunFeedback } from '../../feedback/feedback.js';
import { createRunOutcomes } from '../../feedback/outcomes.js';
import { createReadinessCheck } from '../readiness.js';

/** A run API on an in-memory PGlite, listening on a free port, with keys of two tenants. */
export interface TestServer {
  url: string;
  store: JournalStore;
  client: SqlClient;
  apiKeys: ApiKeys;
  /** The server's runtime controls (with `withControls`). */
  controls?: Controls;
  keys: {
    admin: string;
    reader: string;
    writer: string;
    gatewayOnly: string;
    revoked: string;
    otherTenant: string;
  };
  createKey(tenantId: string, scopes: ApiKeyScope[]): Promise<string>;
  /** fetch with the tenant-a admin key unless `key` is given (null: none). */
  call(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  /** Claims a queued run as a worker would, for journal writes. */
  claim(runId: string): Promise<Lease>;
  close(): Promise<void>;
}

export async function startTestServer(
  options: Partial<ServerOptions> & {
    wrapStore?: (store: JournalStore) => JournalStore;
    /** How long the server's key cache trusts an answer (default that of `createApiKeys`). */
    apiKeyCacheTtlMs?: number;
    /** Serve runtime controls (`/v1/controls`...) over the server's database. */
    withControls?: boolean;
  } = {},
): Promise<TestServer> {
  const { wrapStore = (store: JournalStore) => store, apiKeyCacheTtlMs, withControls, ...serverOptions } = options;
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const controls = withControls === true ? createControls({ client, env: {} }) : undefined;
  await controls?.start();
  const apiKeys = createApiKeys({ client, ...(apiKeyCacheTtlMs === undefined ? {} : { cacheTtlMs: apiKeyCacheTtlMs }) });
  const createKey = async (tenantId: string, scopes: ApiKeyScope[]) =>
    (await apiKeys.create({ tenantId, scopes })).key;
  const revoked = await apiKeys.create({ tenantId: 'tenant-a', scopes: ['admin'] });
  await apiKeys.revoke(revoked.record.id);
  const keys = {
    admin: await createKey('tenant-a', ['admin']),
    reader: await createKey('tenant-a', ['runs:read']),
    writer: await createKey('tenant-a', ['runs:write']),
    gatewayOnly: await createKey('tenant-a', ['gateway', 'approvals']),
    revoked: revoked.key,
    otherTenant: await createKey('tenant-b', ['admin']),
  };
  const agent = defineAgent({ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' });
  const server = createServer({
    store: wrapStore(store),
    agents: new Map([['echo', agent]]),
    logger: silentLogger,
    apiKeys,
    outcomes: createRunOutcomes({ client }),
    feedback: createRunFeedback({ client }),
    analytics: createAnalytics({ client }),
    prompts: createPromptRegistry({ client }),
    audit: createAuditLog({ client }),
    erasure: createUserErasure({ client }),
    readiness: createReadinessCheck({ client }),
    budgets: createBudgetStore({ client }),
    eventPollIntervalMs: 20,
    ...(controls === undefined ? {} : { controls }),
    ...serverOptions,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    store,
    client,
    apiKeys,
    ...(controls === undefined ? {} : { controls }),
    keys,
    createKey,
    call: (path, { key = keys.admin, headers, ...init } = {}) =>
      fetch(url + path, {
        ...init,
        headers: {
          ...(key === null ? {} : { authorization: `Bearer ${key}` }),
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(headers as Record<string, string> | undefined),
        },
      }),
    async claim(runId) {
      const [run] = await store.claimRuns({ owner: 'test-worker', limit: 1, leaseMs: 60_000, ids: [runId] });
      if (!run) throw new Error(`run ${runId} not claimable`);
      return { runId, owner: 'test-worker', fence: run.fence };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await controls?.close();
      await store.close();
    },
  };
}
