/**
 * A whole gateway for the client-recipe tests (docs/gateway.md): an OpenAI-wire fake behind
 * routes `fast` and `gpt-*` (chat completions) and `responses` (the Responses API), an
 * Anthropic-wire fake behind route `claude`, and a Keel API key
 * with the gateway scope. Two ways to run it over the same config:
 *
 * - {@link startRecipeGateway}: in this process (createGatewayHandler over PGlite), for the SDK
 *   recipes;
 * - {@link startRecipeGatewayProcess}: a real `keel gateway` process (bin/keel.js, the build in
 *   dist/) started with a config file on a fresh Postgres database, its key made by
 *   `keel keys create`, for the coding-agent recipes (Claude Code, Codex).
 *
 * The fakes stay in the test process either way, so the tests script and read them. Only the
 * tests use this.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import {
  assertBuilt,
  createKeelProcesses,
  createTestDatabase,
  waitFor,
} from '../../../../test/keel-processes.js';
import { openStore } from '../../../journal/open-store.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../../../testing/fake-anthropic-server.js';
import {
  createFakeOpenAIServer,
  type FakeOpenAIReply,
  type FakeOpenAIRequest,
  type FakeOpenAIServer,
} from '../../../testing/fake-openai-server.js';
import { createApiKeys } from '../../api-keys.js';
import type { GatewayConfigInput } from '../../gateway-config.js';
import { createGateway } from '../../gateway.js';
import { createSqlCallRecorder } from '../../sql-call-recorder.js';
import { createSqlRateLimiter } from '../../sql-rate-limiter.js';
import { createSqlResponseCache } from '../../sql-response-cache.js';
import { createGatewayHandler } from '../gateway-handler.js';

/** The fakes behind the gateway, in the test process. */
interface RecipeUpstreams {
  upstream: FakeOpenAIServer;
  claudeUpstream: FakeAnthropicServer;
}

export interface RecipeGateway extends RecipeUpstreams {
  /** The gateway's origin, e.g. `http://127.0.0.1:4321` (OpenAI clients take `${url}/v1`). */
  url: string;
  /** A Keel API key with the `gateway` scope. */
  key: string;
  /** The endpoints of the calls recorded so far, oldest first. */
  recordedEndpoints(): Promise<string[]>;
  close(): Promise<void>;
}

export interface RecipeGatewayOptions {
  /** Answers the OpenAI-wire upstream's unscripted requests; default: a fixed greeting. */
  openAIHandler?: (request: FakeOpenAIRequest) => FakeOpenAIReply;
}

/** The provider keys the deployments read (by `apiKeyEnv`), as the gateway's environment holds them. */
const UPSTREAM_KEYS = { FAKE_OPENAI_KEY: 'sk-upstream-secret', FAKE_ANTHROPIC_KEY: 'sk-ant-upstream-secret' };

async function startUpstreams(options: RecipeGatewayOptions): Promise<RecipeUpstreams> {
  const upstream = await createFakeOpenAIServer({
    handler: options.openAIHandler ?? (() => ({ content: 'Hello from upstream' })),
  });
  const claudeUpstream = await createFakeAnthropicServer({ handler: () => ({ text: 'Hello from Claude' }) });
  return { upstream, claudeUpstream };
}

/** The gateway section: what a user writes in keel.config's `gateway`, pointed at the fakes. */
function recipeConfig({ upstream, claudeUpstream }: RecipeUpstreams): GatewayConfigInput {
  return {
    deployments: [
      {
        name: 'fake-openai',
        provider: 'openai',
        model: 'gpt-4o-mini',
        apiKeyEnv: 'FAKE_OPENAI_KEY',
        baseURL: upstream.url,
      },
      {
        // The same fake, through OpenAI's Responses API: reasoning items and hosted tools carried.
        name: 'fake-openai-responses',
        provider: 'openai',
        model: 'gpt-5-mini',
        api: 'responses',
        apiKeyEnv: 'FAKE_OPENAI_KEY',
        baseURL: upstream.url,
      },
      {
        name: 'fake-claude',
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        apiKeyEnv: 'FAKE_ANTHROPIC_KEY',
        baseURL: claudeUpstream.url,
      },
    ],
    routes: [
      { name: 'fast', deployments: ['fake-openai'] },
      // The Codex CLI's own model names (its default mode runs its default model).
      { name: 'gpt-*', deployments: ['fake-openai'] },
      { name: 'claude', deployments: ['fake-claude'] },
      { name: 'responses', deployments: ['fake-openai-responses'] },
    ],
    retry: { attemptsPerDeployment: 1 },
  };
}

async function closeUpstreams({ upstream, claudeUpstream }: RecipeUpstreams): Promise<void> {
  await upstream.close();
  await claudeUpstream.close();
}

/** The gateway in this process, over PGlite. */
export async function startRecipeGateway(options: RecipeGatewayOptions = {}): Promise<RecipeGateway> {
  const upstreams = await startUpstreams(options);
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const apiKeys = createApiKeys({ client });
  const recorder = createSqlCallRecorder({ client });
  const gateway = createGateway({
    config: recipeConfig(upstreams),
    limiter: createSqlRateLimiter({ client }),
    cache: createSqlResponseCache({ client }),
    recorder,
    env: UPSTREAM_KEYS,
  });
  const handler = createGatewayHandler({ gateway, apiKeys });
  const server = createServer((request, response) => {
    if (!handler(request, response)) {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { key } = await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'] });
  return {
    url,
    key,
    ...upstreams,
    async recordedEndpoints() {
      await recorder.flush();
      const { rows } = await client.query<{ endpoint: string }>(
        'SELECT endpoint FROM keel.gateway_calls ORDER BY started_at',
      );
      return rows.map((row) => row.endpoint);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
      await recorder.close();
      await store.close();
      await closeUpstreams(upstreams);
    },
  };
}

/** A recorded call, as `gateway_calls` holds it. */
export interface RecordedCall {
  endpoint: string;
  userId: string | null;
  sessionId: string | null;
}

export interface RecipeGatewayProcess extends RecipeUpstreams {
  /** The gateway's origin, e.g. `http://127.0.0.1:4321` (OpenAI clients take `${url}/v1`). */
  url: string;
  /** A Keel API key with the `gateway` scope, made by `keel keys create`. */
  key: string;
  /**
   * The calls started at or after `since`, oldest first, once `count` of them are in
   * `gateway_calls` (the gateway writes its records off the call path, a moment later).
   */
  recordedCalls(options: { since: Date; count: number }): Promise<RecordedCall[]>;
  /** Ends the gateway (SIGTERM: it drains and writes its records), the fakes, and the database. */
  close(): Promise<void>;
}

/**
 * `keel gateway --config <dir>/keel.config.mjs` as a user runs it, on a fresh database of the
 * Postgres at `connectionString` (dropped on close), with the recipe's gateway section and the
 * provider keys in its environment, and a key made by `keel keys create --scopes gateway`. Fails
 * clearly when dist/ was not built. On failure to start, whatever was started is ended.
 */
export async function startRecipeGatewayProcess(
  connectionString: string,
  { directory, ...options }: RecipeGatewayOptions & { directory: string },
): Promise<RecipeGatewayProcess> {
  assertBuilt();
  const upstreams = await startUpstreams(options);
  const keel = createKeelProcesses();
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let reader: pg.Client | undefined;
  const close = async () => {
    await keel.killAll();
    await reader?.end().catch(() => {});
    await database?.drop();
    await closeUpstreams(upstreams);
  };
  try {
    database = await createTestDatabase(connectionString);
    const config = join(directory, 'keel.config.mjs');
    writeFileSync(config, `export default ${JSON.stringify({ gateway: recipeConfig(upstreams) }, null, 2)};\n`);
    const env = { DATABASE_URL: database.url, ...UPSTREAM_KEYS };
    const gateway = keel.spawnKeel(['gateway', '--port', '0', '--host', '127.0.0.1', '--config', config, '--json'], env);
    const serving = await waitFor(
      'keel gateway serving',
      () => ({ stdout: gateway.stdout(), exited: gateway.child.exitCode }),
      ({ stdout, exited }) => stdout.includes('"event":"serving"') || exited !== null,
      60_000,
    );
    if (serving.exited !== null)
      throw new Error(`keel gateway exited ${serving.exited}:\n${gateway.stderr()}`);
    const { url } = JSON.parse(serving.stdout.split('\n')[0]!) as { url: string };
    // The key as a user makes it, beside the running gateway (they share the database).
    const created = await keel.runKeel(
      ['keys', 'create', '--tenant', 'acme', '--scopes', 'gateway', '--json'],
      env,
    );
    const { key } = JSON.parse(created.stdout()) as { key: string };
    reader = new pg.Client({ connectionString: database.url });
    await reader.connect();
    const db = reader;
    return {
      url: url.replace(/\/v1$/, ''),
      key,
      ...upstreams,
      async recordedCalls({ since, count }) {
        const rows = await waitFor(
          `${count} gateway_calls since ${since.toISOString()}`,
          async () =>
            (
              await db.query<{ endpoint: string; user_id: string | null; session_id: string | null }>(
                'SELECT endpoint, user_id, session_id FROM keel.gateway_calls WHERE started_at >= $1 ORDER BY started_at',
                [since],
              )
            ).rows,
          (found) => found.length >= count,
          30_000,
          100,
        );
        return rows.map((row) => ({ endpoint: row.endpoint, userId: row.user_id, sessionId: row.session_id }));
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
