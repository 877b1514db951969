import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DatabaseUnavailableError } from '../errors/storage-errors.js';
import type { RateLimiter } from '../gateway/gateway-store.js';
import { createSqlRateLimiter } from '../gateway/sql-rate-limiter.js';
import type { JournalStore } from '../journal/store.js';
import type { ApiKeys } from '../gateway/api-keys.js';
import type { Gateway } from '../gateway/gateway-types.js';
import { createGatewayHandler } from '../gateway/http/gateway-handler.js';
import { createJsonLogger, redact } from '../util/logger.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { corsFromEnv } from './cors.js';
import { routePattern } from './request-edges.js';
import { acceptedRunResponse, errorResponse } from './schemas.js';

let app: TestServer | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

describe('per-key rate limits', { timeout: 30_000 }, () => {
  it('answers 429 rate_limited with Retry-After once a key spends its rpm', async () => {
    // The SQL limiter needs the test server's client: it is bound once the server is up.
    const bound: { real?: RateLimiter } = {};
    const limiter: RateLimiter = {
      reserve: (scopes, tokens) => bound.real!.reserve(scopes, tokens),
      settle: (reservation, tokens) => bound.real!.settle(reservation, tokens),
    };
    app = await startTestServer({ limiter });
    bound.real = createSqlRateLimiter({ client: app.client });
    const { key } = await app.apiKeys.create({ tenantId: 'tenant-a', scopes: ['admin'], rpm: 3 });
    for (let i = 0; i < 3; i++) expect((await app.call('/v1/runs', { key })).status).toBe(200);
    const refused = await app.call('/v1/runs', { key });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    const retryAfterMs = Number(refused.headers.get('retry-after-ms'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // The window slides over two minutes: a refused request may wait up to two windows.
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfter).toBe(Math.ceil(retryAfterMs / 1000));
    expect(errorResponse.parse(await refused.json()).error.code).toBe('rate_limited');
    // Keys without rpm, and other keys, are not limited.
    for (let i = 0; i < 5; i++) expect((await app.call('/v1/runs')).status).toBe(200);
  });
});

describe('CORS', { timeout: 30_000 }, () => {
  it('answers preflights and marks allowed origins only', async () => {
    app = await startTestServer({ cors: { origins: ['https://app.example.com'] } });
    const preflight = await fetch(`${app.url}/v1/runs`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(preflight.headers.get('vary')).toMatch(/origin/i);
    const allowedHeaders = preflight.headers.get('access-control-allow-headers') ?? '';
    for (const header of ['authorization', 'content-type', 'idempotency-key', 'last-event-id'])
      expect(allowedHeaders).toContain(header);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');

    const denied = await fetch(`${app.url}/v1/runs`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    expect(denied.status).toBe(204);
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();

    const get = await app.call('/v1/runs', { headers: { origin: 'https://app.example.com' } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(get.headers.get('access-control-expose-headers')).toContain('x-request-id');
    expect(get.headers.get('access-control-expose-headers')).toContain('retry-after');
    const other = await app.call('/v1/runs', { headers: { origin: 'https://evil.example.com' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('adds nothing without cors options', async () => {
    app = await startTestServer();
    const response = await app.call('/v1/runs', { headers: { origin: 'https://app.example.com' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reads KEEL_CORS_ORIGINS', () => {
    expect(corsFromEnv(undefined)).toBeUndefined();
    expect(corsFromEnv(' ')).toBeUndefined();
    expect(corsFromEnv('*')).toEqual({ origins: '*' });
    expect(corsFromEnv('https://a.example, https://b.example/')).toEqual({
      origins: ['https://a.example', 'https://b.example'],
    });
  });
});

/** A store whose `getRun` takes `delayMs` first. */
function slowGetRun(delayMs: number) {
  return (store: JournalStore): JournalStore =>
    new Proxy(store, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property !== 'getRun' || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
}

describe('malformed request targets', { timeout: 30_000 }, () => {
  it('answers 400 to a request target that is no URL, and keeps serving', async () => {
    app = await startTestServer();
    const { port } = new URL(app.url);
    // Node's parser accepts this absolute-form target; the WHATWG URL parser does not.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET http://[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"code":"invalid_request"');
    expect(answer).toMatch(/x-request-id: /i);
    expect((await app.call('/healthz')).status).toBe(200);
  });
});

describe('request timeouts', { timeout: 30_000 }, () => {
  it('answers 503 request_timeout instead of hanging', async () => {
    app = await startTestServer({ requestTimeoutMs: 100, wrapStore: slowGetRun(1_500) });
    const started = Date.now();
    const response = await app.call('/v1/runs/run_anything');
    await expectError(response, 503, 'request_timeout');
    expect(Date.now() - started).toBeLessThan(1_200);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // let the slow call end before close
  });

  it('extends the timeout by ?wait', async () => {
    app = await startTestServer({ requestTimeoutMs: 500, wrapStore: slowGetRun(100) });
    const response = await app.call('/v1/runs?wait=1', {
      method: 'POST',
      body: JSON.stringify({ agent: 'echo', input: 'hi' }),
    });
    expect(response.status).toBe(202);
    acceptedRunResponse.partial().parse(await response.json());
  });
});

describe('database blips', { timeout: 30_000 }, () => {
  it('answers 503 database_unavailable with Retry-After: 1', async () => {
    const failing = (store: JournalStore): JournalStore =>
      new Proxy(store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (typeof value !== 'function') return value;
          return () =>
            Promise.reject(new DatabaseUnavailableError('Database unavailable: connection refused'));
        },
      });
    app = await startTestServer({ wrapStore: failing });
    const list = await app.call('/v1/runs');
    expect(list.headers.get('retry-after')).toBe('1');
    await expectError(list, 503, 'database_unavailable');
    const submit = await app.call('/v1/runs', {
      method: 'POST',
      body: JSON.stringify({ agent: 'echo', input: 'x' }),
    });
    expect(submit.headers.get('retry-after')).toBe('1');
    await expectError(submit, 503, 'database_unavailable');
  });
});

describe('request logs', { timeout: 30_000 }, () => {
  it('logs the gateway endpoints the same way: route, status, the gateway request id, tenant and key', async () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ write: (line) => lines.push(line) });
    const holder: { keys?: Pick<ApiKeys, 'verify'> } = {};
    const gatewayHandler = createGatewayHandler({
      // Only the routes are read by GET /v1/models.
      gateway: { routes: () => ['fast'] } as unknown as Gateway,
      apiKeys: { verify: (secret) => holder.keys!.verify(secret) },
    });
    app = await startTestServer({ logger, gatewayHandler });
    holder.keys = app.apiKeys;
    const listed = await app.call('/v1/models', {
      key: app.keys.gatewayOnly,
      headers: { 'x-request-id': 'gw-1' },
    });
    expect(listed.status).toBe(200);
    expect((await app.call('/v1/models', { key: null })).status).toBe(401);
    // Lines are written just after each answer.
    await vi.waitFor(() => expect(lines.filter((line) => line.includes('"msg":"request"'))).toHaveLength(2));
    const requests = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((record) => record.msg === 'request');
    expect(requests).toEqual([
      expect.objectContaining({
        method: 'GET',
        route: '/v1/models',
        status: 200,
        requestId: 'gw-1',
        tenantId: 'tenant-a',
        keyId: expect.any(String) as unknown,
      }),
      expect.objectContaining({ route: '/v1/models', status: 401, tenantId: null, keyId: null }),
    ]);
    expect(lines.join('\n')).not.toContain(app.keys.gatewayOnly);
  });

  it("serves the gateway's endpoints as routes of the table: raw paths, their own error format, in /openapi.json", async () => {
    const holder: { keys?: Pick<ApiKeys, 'verify'> } = {};
    const gatewayHandler = createGatewayHandler({
      // Only the routes are read by GET /v1/models[/{id}].
      gateway: { routes: () => ['fast', 'openai/fast'] } as unknown as Gateway,
      apiKeys: { verify: (secret) => holder.keys!.verify(secret) },
    });
    app = await startTestServer({ gatewayHandler });
    holder.keys = app.apiKeys;
    const key = app.keys.gatewayOnly;

    // `/v1/models/*` takes every path under it, a slash in a model's name included.
    const named = await app.call('/v1/models/openai/fast', { key });
    expect(named.status).toBe(200);
    expect(await named.json()).toMatchObject({ id: 'openai/fast', object: 'model' });
    const empty = await app.call('/v1/models/', { key });
    expect(empty.status).toBe(404);
    expect(await empty.json()).toMatchObject({
      error: { code: 'model_not_found', type: 'invalid_request_error' },
    });

    // A method a route lacks: 405 in the route's format (Anthropic's on /v1/messages), before the key.
    const put = await app.call('/v1/messages', { method: 'PUT', key: null });
    expect(put.status).toBe(405);
    expect(await put.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'PUT is not allowed on /v1/messages.' },
    });
    const head = await app.call('/v1/models', { method: 'HEAD', key: null });
    expect(head.status).toBe(405);
    expect(head.headers.get('x-request-id')).toMatch(/^req_/);

    // Its paths are matched verbatim: the API's normalised path reaches no gateway route.
    const doubled = await app.call('/v1//models', { key });
    expect(doubled.status).toBe(404);
    expect(errorResponse.parse(await doubled.json()).error.code).toBe('not_found');

    const document = (await (await app.call('/openapi.json', { key: null })).json()) as {
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(document.paths['/v1/chat/completions']?.post).toMatchObject({
      'x-keel-wire': 'openai',
      'x-keel-scopes': ['gateway', 'admin'],
    });
    expect(document.paths['/v1/messages']?.post).toMatchObject({ 'x-keel-wire': 'anthropic' });
    expect(document.paths['/v1/responses']?.post).toMatchObject({ 'x-keel-wire': 'openai' });
    expect(document.paths['/v1/models/{id}']?.get).toMatchObject({ 'x-keel-wire': 'openai' });
    expect(document.paths['/v1/embeddings']?.post).toBeDefined();
  });

  it('writes one line per request with route, status, ids and never the key', async () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ level: 'debug', write: (line) => lines.push(line) });
    app = await startTestServer({ logger });
    const created = await app.call('/v1/runs', {
      method: 'POST',
      body: JSON.stringify({ agent: 'echo', input: 'very-private-input' }),
      headers: { 'x-request-id': 'req-log-test' },
    });
    const { id } = acceptedRunResponse.parse(await created.json());
    await app.call(`/v1/runs/${id}`);
    await app.call('/v1/runs', { key: 'keel_sk_not-a-real-key-but-secret-looking' });
    // 'close' fires after the response, and the line is written just after it.
    await vi.waitFor(() => expect(lines.filter((line) => line.includes('"msg":"request"'))).toHaveLength(3));
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = records.filter((record) => record.msg === 'request');
    expect(requests).toHaveLength(3);
    expect(requests[0]).toMatchObject({
      method: 'POST',
      route: '/v1/runs',
      status: 202,
      requestId: 'req-log-test',
      tenantId: 'tenant-a',
      keyId: expect.any(String) as unknown,
    });
    expect(requests[0]?.durationMs).toEqual(expect.any(Number));
    expect(requests[1]).toMatchObject({ method: 'GET', route: '/v1/runs/{id}', status: 200 });
    expect(requests[2]).toMatchObject({ status: 401, tenantId: null, keyId: null });
    const all = lines.join('\n');
    expect(all).not.toContain(app.keys.admin);
    expect(all).not.toContain(app.keys.admin.slice(8));
    expect(all).not.toContain('secret-looking');
    expect(all).not.toContain('very-private-input');
    expect(all.toLowerCase()).not.toContain('bearer');
  });

  it('redacts secret-looking fields and keys inside strings', () => {
    const lines: string[] = [];
    const logger = createJsonLogger({ write: (line) => lines.push(line) }).child({ api_key: 'k1' });
    logger.info('calling with keel_sk_abcdefABCDEF0123', {
      headers: { Authorization: 'Bearer sk-live-123', 'X-API-Key': 'sk-2', accept: 'json' },
      password: 'hunter2',
      token: 't',
      tokens: 42,
      note: 'got Bearer abc.def',
    });
    const record = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(record).toMatchObject({
      msg: 'calling with keel_sk_[redacted]',
      api_key: '[redacted]',
      headers: { Authorization: '[redacted]', 'X-API-Key': '[redacted]', accept: 'json' },
      password: '[redacted]',
      token: '[redacted]',
      tokens: 42,
      note: 'got Bearer [redacted]',
    });
    expect(redact({ at: new Date(0) })).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });

  it('logs route patterns without ids', () => {
    expect(routePattern('/v1/runs/run_123/steps')).toBe('/v1/runs/{id}/steps');
    expect(routePattern('/v1/runs')).toBe('/v1/runs');
    expect(routePattern('/healthz')).toBe('/healthz');
  });
});
