import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_SCOPES } from '../gateway/api-keys.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { API_ROUTES } from './api-routes.js';
import type { createOpenApiDocument } from './openapi.js';
import { openApiPath } from './route-table.js';
import { errorResponse } from './schemas.js';

let app: TestServer;
beforeAll(async () => {
  app = await startTestServer();
});
afterAll(() => app.close());

/** A request path for a route: every parameter an id that exists nowhere. */
const pathOf = (path: string) => path.replace(/:[A-Za-z_]+/g, 'x_1');

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorResponse.parse(await response.json()).error.code).toBe(code);
}

describe('the route table', () => {
  it('declares each method and path once', () => {
    const names = API_ROUTES.map((route) => `${route.method} ${route.path}`);
    expect(new Set(names).size).toBe(names.length);
  });

  it('refuses, on every route with scopes, a key with every other scope (403) and no key (401)', async () => {
    const guarded = API_ROUTES.filter((route) => route.scopes.length > 0);
    expect(guarded.length).toBeGreaterThan(10);
    for (const route of guarded) {
      const others = API_KEY_SCOPES.filter((scope) => !route.scopes.includes(scope));
      const init = { method: route.method, ...(route.method === 'POST' ? { body: '{}' } : {}) };
      const name = `${route.method} ${route.path}`;
      // A route any key may call (`GET /v1/me`) has no other scope to refuse.
      if (others.length > 0) {
        const key = await app.createKey('tenant-a', others);
        const forbidden = await app.call(pathOf(route.path), { ...init, key });
        expect(forbidden.status, name).toBe(403);
        expect(errorResponse.parse(await forbidden.json()).error.code, name).toBe('forbidden');
      }
      await expectError(await app.call(pathOf(route.path), { ...init, key: null }), 401, 'unauthorized');
    }
  });

  it('answers the public routes without a key', async () => {
    for (const route of API_ROUTES.filter((candidate) => candidate.scopes.length === 0)) {
      // The one public POST, the console's sign-in exchange, is answered (here: no links issued).
      const response = await app.call(route.path, {
        method: route.method,
        key: null,
        ...(route.method === 'POST' ? { body: '{"token":"abc"}' } : {}),
      });
      expect(response.status, route.path).toBe(route.method === 'POST' ? 404 : 200);
      await response.body?.cancel();
    }
  });

  it('answers 405 (before the key) for another method on a path of the table, 404 off it', async () => {
    for (const route of API_ROUTES) {
      // The table has GET, POST, PATCH and DELETE: PUT is another method on every path.
      const other = 'PUT';
      await expectError(
        await app.call(pathOf(route.path), { method: other, key: null }),
        405,
        'method_not_allowed',
      );
    }
    await expectError(await app.call('/v1/runs/x_1/nope', { key: null }), 404, 'not_found');
    await expectError(await app.call('/v1/nope', { method: 'POST', key: null }), 404, 'not_found');
    // HEAD is no GET here (Hono's default): a HEAD answer has no body, so the status tells.
    expect((await app.call('/healthz', { method: 'HEAD', key: null })).status).toBe(405);
    expect((await app.call('/v1/runs', { method: 'HEAD', key: null })).status).toBe(405);
  });

  it('is what /openapi.json lists: every route, with its scopes', async () => {
    const served = (await (await app.call('/openapi.json', { key: null })).json()) as ReturnType<
      typeof createOpenApiDocument
    >;
    const listed = Object.entries(served.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(listed.sort()).toEqual(
      API_ROUTES.map((route) => `${route.method} ${openApiPath(route.path)}`).sort(),
    );
    for (const route of API_ROUTES) {
      const operation = served.paths[openApiPath(route.path)]?.[route.method.toLowerCase()] as {
        security?: unknown;
        'x-keel-scopes'?: string[];
      };
      expect(operation['x-keel-scopes'] ?? []).toEqual([...route.scopes]);
      expect(operation.security !== undefined).toBe(route.scopes.length > 0);
    }
  });
});

/** Sends raw bytes and returns the whole answer (the server closes: `Connection: close`). */
async function rawRequest(text: string): Promise<string> {
  const { hostname, port } = new URL(app.url);
  const socket = connect(Number(port), hostname);
  socket.end(text);
  let answer = '';
  for await (const chunk of socket) answer += (chunk as Buffer).toString('utf8');
  return answer;
}

describe('the Host header', () => {
  it('may be missing; one that is no host is a 400 invalid_request (RFC 9112), in the API’s error body', async () => {
    expect(await rawRequest('GET /healthz HTTP/1.0\r\n\r\n')).toMatch(
      /^HTTP\/1\.1 200 [\s\S]*\{"ok":true\}$/,
    );
    for (const host of ['[::1', 'a/b?c', 'x:99999']) {
      const answer = await rawRequest(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toMatch(/x-request-id: req_/);
      expect(answer).toMatch(/\{"error":\{"code":"invalid_request","message":"Malformed request URL\."\}\}$/);
    }
  });
});
