import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { migrate } from '../journal/migrations.js';
import { createPgClient } from '../journal/pg-client.js';
import { createPgliteClient } from '../journal/pglite-client.js';
import type { SqlClient } from '../journal/sql-client.js';
import { estimateRequestTokens, estimateTextTokens } from '../model/token-estimate.js';
import { createFakeClock } from '../testing/fake-clock.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { createTestSchemaName, describePostgres } from '../testing/postgres.js';
import type { GatewayCallOptions, GatewayRequest } from './gateway-types.js';
import { createGateway, type KeelGateway } from './gateway.js';
import { createSqlCallRecorder } from './sql-call-recorder.js';
import { createSqlRateLimiter } from './sql-rate-limiter.js';
import { PRICE_TABLE_VERSION } from '../model/prices.js';

/**
 * Usage you can trust, at the gateway: an upstream that reports no usage (or negative usage)
 * must not settle tpm reservations to 0, price its calls at $0, or record them as free. Real
 * limiter and recorder over every SqlClient: PGlite always, Postgres when configured.
 */
function gatewayUsageSuite(openClient: () => Promise<SqlClient>): void {
  let client: SqlClient;
  let schema: string;
  let upstream: FakeOpenAIServer;
  let gateway: KeelGateway | undefined;

  beforeAll(async () => {
    client = await openClient();
    upstream = await createFakeOpenAIServer({
      handler: (request) =>
        request.headers['x-usage'] === 'negative'
          ? { content: 'A short answer.', usage: { promptTokens: -1_000_000, completionTokens: -50 } }
          : { content: 'A short answer.', usage: 'omit' },
    });
  });
  afterAll(async () => {
    await upstream?.close();
    await client?.close();
  });
  beforeEach(async () => {
    schema = createTestSchemaName();
    await migrate(client, { schema });
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  const setup = ({
    deploymentTpm,
    usage = 'omit',
  }: {
    deploymentTpm?: number;
    usage?: 'omit' | 'negative';
  }) => {
    const clock = createFakeClock({ start: Date.UTC(2030, 0, 1, 0, 0, 10) });
    const recorder = createSqlCallRecorder({ client, schema, flushIntervalMs: 60_000 });
    gateway = createGateway({
      config: {
        deployments: [
          {
            name: 'd0',
            provider: 'openai',
            model: 'gpt-4o',
            baseURL: upstream.url,
            apiKeyEnv: 'KEY_D0',
            headers: { 'x-usage': usage },
            ...(deploymentTpm === undefined ? {} : { tpm: deploymentTpm }),
          },
        ],
        routes: [{ name: 'main', deployments: ['d0'] }],
        retry: { attemptsPerDeployment: 1 },
      },
      env: { KEY_D0: 'sk-test-d0-0123456789' },
      limiter: createSqlRateLimiter({ client, schema, clock }),
      recorder,
      clock,
    });
    return { gateway, recorder };
  };

  // About 2,000 prompt tokens per call, which the upstream never reports.
  const request: GatewayRequest = {
    model: 'main',
    messages: [{ role: 'user', content: 'Summarise this. ' + 'The quick brown fox jumps. '.repeat(330) }],
    maxOutputTokens: 16,
  };
  const inputEstimate = estimateRequestTokens(request, { model: 'gpt-4o' });
  const outputEstimate = estimateTextTokens('A short answer.', { model: 'gpt-4o' });
  const perCall = inputEstimate + outputEstimate;

  const tokensOf = async (scope: string) => {
    const result = await client.query<{ tokens: string | number }>(
      `SELECT tokens FROM ${schema}.rate_windows WHERE scope = $1`,
      [scope],
    );
    return Number(result.rows[0]?.tokens ?? 0);
  };
  /** Settlement is off the answer's path: wait until the counter shows it. */
  const settledTo = async (scope: string, tokens: number) => {
    for (let poll = 0; poll < 500 && (await tokensOf(scope)) !== tokens; poll++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return tokensOf(scope);
  };
  const streamed = async (options: GatewayCallOptions) => {
    const stream = await (gateway as KeelGateway).stream(request, options);
    for await (const event of stream.events) void event;
    return stream.done;
  };

  it("settles the key's and the deployment's tpm with the estimate when the upstream reports no usage, plain and streamed", async () => {
    const { gateway, recorder } = setup({ deploymentTpm: 1_000_000 });
    const caller = { keyId: 'key_1', tenantId: 'acme', tpm: 5_000 };
    expect(inputEstimate).toBeGreaterThan(1_900);

    const plain = await gateway.generate(request, { caller });
    expect(plain.response.usage).toEqual({
      inputTokens: inputEstimate,
      outputTokens: outputEstimate,
      source: 'estimated',
    });
    expect(plain.meta.costUsd).toBeGreaterThan(0.004); // gpt-4o: $2.50 per million input tokens
    expect(plain.meta.priceTable).toBe(PRICE_TABLE_VERSION);
    expect(await settledTo('key:key_1', perCall)).toBe(perCall);
    expect(await settledTo('deployment:d0', perCall)).toBe(perCall);

    const meta = await streamed({ caller });
    expect(meta).toMatchObject({ outcome: 'ok', usage: { inputTokens: inputEstimate, source: 'estimated' } });
    expect(await settledTo('key:key_1', 2 * perCall)).toBe(2 * perCall);
    expect(await settledTo('deployment:d0', 2 * perCall)).toBe(2 * perCall);

    // A third call would pass 5,000 tokens: the key's tpm holds (it did not, when usage settled to 0).
    await expect(gateway.generate(request, { caller })).rejects.toMatchObject({
      code: 'rate_limited',
      details: { scope: 'key:key_1', limit: 'tpm' },
    });
    await expect(streamed({ caller })).rejects.toMatchObject({ code: 'rate_limited' });
    expect(upstream.requests.filter((entry) => entry.headers['x-usage'] === 'omit')).toHaveLength(2);

    // The records hold the estimate and its price, not 0 and $0.
    await recorder.flush();
    const records = await client.query<{ input_tokens: number; output_tokens: number; cost_usd: string }>(
      `SELECT input_tokens, output_tokens, cost_usd FROM ${schema}.gateway_calls WHERE outcome = 'ok'`,
    );
    expect(records.rows).toHaveLength(2);
    for (const row of records.rows) {
      expect(row).toMatchObject({ input_tokens: inputEstimate, output_tokens: outputEstimate });
      expect(Number(row.cost_usd)).toBeGreaterThan(0.004);
    }
    upstream.requests.length = 0;
  });

  it("holds a deployment's tpm for the same traffic, and never refunds on negative usage", async () => {
    const { gateway } = setup({ deploymentTpm: 5_000, usage: 'negative' });
    const plain = await gateway.generate(request);
    expect(plain.response.usage).toMatchObject({
      inputTokens: inputEstimate,
      outputTokens: outputEstimate,
      source: 'estimated',
      invalid: 'negative',
    });
    expect(plain.meta.costUsd).toBeGreaterThan(0);
    expect(await settledTo('deployment:d0', perCall)).toBe(perCall);
    await streamed({});
    expect(await settledTo('deployment:d0', 2 * perCall)).toBe(2 * perCall);
    await expect(gateway.generate(request)).rejects.toMatchObject({
      code: 'gateway_unavailable',
      details: { skipped: { d0: 'rate-limited' } },
    });
    upstream.requests.length = 0;
  });
}

gatewayUsageSuite(() => createPgliteClient());

describePostgres('gateway usage on Postgres', (connectionString) => {
  gatewayUsageSuite(async () => createPgClient({ connectionString, max: 4 }));
});
