/**
 * What the gateway budget tests share (gateway-budgets.test.ts, gateway-budgets-counting.test.ts):
 * a test's database, migrated, and a real gateway service listening on a free port, with one
 * route `fast` to an OpenAI deployment (gpt-4o-mini prices) at the caller's fake upstream, its
 * calls reserved against the budget store the caller builds over that database.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiKeys, type ApiKeyRecord } from '../../gateway/api-keys.js';
import { createGatewayService, type GatewayService } from '../../gateway/http/gateway-service.js';
import { migrate } from '../../journal/migrations.js';
import type { SqlClient } from '../../journal/sql-client.js';
import type { ContractDatabase } from '../../testing/sql-contract.js';
import type { BudgetStore } from '../budget-store.js';

export interface BudgetedGateway {
  client: SqlClient;
  schema: string;
  /** The store the gateway reserves against. */
  budgets: BudgetStore;
  service: GatewayService;
  baseUrl: string;
  /** A new API key of tenant `acme` with the `gateway` scope. */
  newKey(): Promise<{ key: string; record: ApiKeyRecord }>;
  /** A chat completion on route `fast` asking to plan a day in Lyon; `extra` is added to the body. */
  chat(key: string, extra?: Record<string, unknown>): Promise<Response>;
  /** Stops the server and the service, then closes the database. */
  close(): Promise<void>;
}

/**
 * Opens and migrates the database, then starts the gateway over the store `budgetsOver` builds
 * on it (a test may build it on a client of its own, or with its own clock).
 */
export async function startBudgetedGateway({
  open,
  upstreamUrl,
  budgetsOver,
}: {
  open: () => Promise<ContractDatabase>;
  upstreamUrl: string;
  budgetsOver: (database: { client: SqlClient; schema: string }) => BudgetStore;
}): Promise<BudgetedGateway> {
  const { client, schema, close } = await open();
  await migrate(client, { schema });
  const budgets = budgetsOver({ client, schema });
  const service = createGatewayService({
    config: {
      deployments: [
        {
          name: 'up',
          provider: 'openai',
          model: 'gpt-4o-mini',
          apiKeyEnv: 'FAKE_KEY',
          baseURL: upstreamUrl,
        },
      ],
      routes: [{ name: 'fast', deployments: ['up'] }],
      retry: { attemptsPerDeployment: 1 },
    },
    client,
    schema,
    env: { FAKE_KEY: 'sk-fake' },
    budgets,
  });
  const server = createServer((request, response) => {
    if (!service.handler(request, response)) response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    client,
    schema,
    budgets,
    service,
    baseUrl,
    newKey: () => createApiKeys({ client, schema }).create({ tenantId: 'acme', scopes: ['gateway'] }),
    chat: (key, extra = {}) =>
      fetch(`${baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'fast',
          messages: [{ role: 'user', content: 'Plan a day in Lyon.' }],
          ...extra,
        }),
      }),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await service.close();
      await close();
    },
  };
}
