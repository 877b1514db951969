#!/usr/bin/env node
// What the route table (Hono's router, via @hono/node-server) adds to a gateway request, against
// the hand-matched dispatch the gateway had before its routes joined the table. One process, same
// run: three servers over the same gateway routes (Keel's real ones, on an in-memory PGlite,
// calling the mock upstream of bench/gateway in a child process): hand-matched, the table as
// `createServer` mounts it (API routes and gateway routes) and the gateway-only table of `keel
// gateway`; requests interleaved in rounds at concurrency 1 over keep-alive.
//
//   npm run build && node bench/router/measure.js
//
// Settings: KEEL_BENCH_ROUTER_REQUESTS (per round and case, default 1000), KEEL_BENCH_ROUTER_ROUNDS
// (default 5). Prints a markdown table: p50 and p99 per case, and table − hand-matched.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiKeys, createGatewayService } from '../../dist/gateway/index.js';
import { openStore, silentLogger } from '../../dist/index.js';
import { createApiListener } from '../../dist/server/api-app.js';
import { API_ROUTES } from '../../dist/server/api-routes.js';
import { sendError } from '../../dist/server/http-errors.js';
import { logRequest } from '../../dist/server/request-edges.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REQUESTS = Number(process.env.KEEL_BENCH_ROUTER_REQUESTS ?? 1000);
const ROUNDS = Number(process.env.KEEL_BENCH_ROUTER_ROUNDS ?? 5);

function startUpstream() {
  const child = spawn(process.execPath, [join(HERE, '..', 'gateway', 'mock-upstream.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (data) => resolve({ child, port: JSON.parse(String(data)).port }));
  });
}

const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

/**
 * Hand-matched: the dispatch `createGatewayHandler` did before the gateway's routes joined the
 * table (string compares on the raw path, then the same hooks and handler), kept here as the
 * baseline.
 */
function handMatched(wire) {
  const route = (method, path) => wire.routes.find((r) => r.method === method && r.path === path);
  const routes = {
    '/v1/chat/completions': route('POST', '/v1/chat/completions'),
    '/v1/messages': route('POST', '/v1/messages'),
    '/v1/embeddings': route('POST', '/v1/embeddings'),
    '/v1/models': route('GET', '/v1/models'),
  };
  const modelRoute = route('GET', '/v1/models/*');
  return http.createServer((request, response) => {
    const arrivedAt = performance.now();
    const target = request.url ?? '/';
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    const matched = routes[path] ?? (path.startsWith('/v1/models/') ? modelRoute : undefined);
    if (matched === undefined) {
      response.writeHead(404).end();
      return;
    }
    const { requestId, answerId } = wire.begin(request);
    serve(wire, matched, request, response, path, requestId, answerId).catch((error) =>
      wire.sendError(response, matched.errors, requestId, error),
    );
    logRequest({ logger: silentLogger, request, response, startedAt: arrivedAt });
  });
}

/** The steps of a wire route, as before (method, body read while the key is verified, handler). */
async function serve(wire, route, request, response, path, requestId, answerId) {
  const method = request.method ?? 'GET';
  if (method !== route.method) throw wire.methodNotAllowed(method, path);
  const controller = new globalThis.AbortController();
  let body;
  if (route.body === 'json') {
    response.once('close', () => {
      if (!response.writableFinished) controller.abort(new Error('The client closed the connection.'));
    });
    body = wire.readBody(request, wire.maxBodyBytes);
    body.catch(() => {});
  } else request.resume();
  const caller = await wire.authorize(request, route.errors);
  await route.handle({
    request,
    response,
    path,
    caller,
    body: body === undefined ? undefined : await body,
    signal: controller.signal,
    requestId,
    answerId,
  });
}

/** The table: what `createServer` does, the gateway's routes in the API's Hono table. */
function throughTable(wire) {
  const listener = createApiListener({
    routes: API_ROUTES,
    dependencies: {},
    onError: (_request, response, error) => sendError(response, error),
    wire,
  });
  return http.createServer((request, response) => {
    const arrivedAt = performance.now();
    if (listener.wire(request, response)) {
      logRequest({ logger: silentLogger, request, response, startedAt: arrivedAt });
      return;
    }
    response.writeHead(404).end();
  });
}

/** `keel gateway`: a table of the gateway's routes only (`createGatewayHandler`). */
function gatewayOnly(handler) {
  return http.createServer((request, response) => {
    const arrivedAt = performance.now();
    if (handler(request, response)) {
      logRequest({ logger: silentLogger, request, response, startedAt: arrivedAt });
      return;
    }
    response.writeHead(404).end();
  });
}

function call(agent, port, { method, path, body, key }) {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const request = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      },
      (response) => {
        response.resume();
        response.once('end', () =>
          response.statusCode === 200
            ? resolve(performance.now() - startedAt)
            : reject(new Error(`${method} ${path}: ${response.statusCode}`)),
        );
      },
    );
    request.once('error', reject);
    request.end(body);
  });
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

const upstream = await startUpstream();
const { store, client } = await openStore({ dataDir: 'memory://' });
const apiKeys = createApiKeys({ client });
const { key } = await apiKeys.create({ tenantId: 'bench', scopes: ['gateway'] });
const service = createGatewayService({
  config: {
    deployments: [
      {
        name: 'mock',
        provider: 'openai-compatible',
        model: 'gpt-4o-mini',
        baseURL: `http://127.0.0.1:${upstream.port}/v1`,
        apiKeyEnv: 'MOCK_API_KEY',
      },
    ],
    routes: [{ name: 'gpt-4o-mini', deployments: ['mock'] }],
  },
  client,
  env: { ...process.env, MOCK_API_KEY: 'mock' },
  logger: silentLogger,
});
const servers = {
  'hand-matched': handMatched(service.handler.wire),
  table: throughTable(service.handler.wire),
  'gateway-only table': gatewayOnly(service.handler),
};
const ports = {};
for (const [name, server] of Object.entries(servers)) ports[name] = await listen(server);

const cases = {
  'POST /v1/chat/completions': {
    method: 'POST',
    path: '/v1/chat/completions',
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hi.' }] }),
    key,
  },
  'GET /v1/models': { method: 'GET', path: '/v1/models', key },
};

const samples = {};
for (const caseName of Object.keys(cases))
  for (const name of Object.keys(servers)) samples[`${caseName}|${name}`] = [];
const agents = Object.fromEntries(
  Object.keys(servers).map((name) => [name, new http.Agent({ keepAlive: true, maxSockets: 1 })]),
);
// Warm-up (JIT, connections, key cache), then rounds that alternate the servers.
for (const spec of Object.values(cases))
  for (const name of Object.keys(servers))
    for (let i = 0; i < 200; i++) await call(agents[name], ports[name], spec);
for (let round = 0; round < ROUNDS; round++) {
  for (const [caseName, spec] of Object.entries(cases)) {
    const order = round % 2 === 0 ? Object.keys(servers) : Object.keys(servers).reverse();
    for (const name of order)
      for (let i = 0; i < REQUESTS; i++)
        samples[`${caseName}|${name}`].push(await call(agents[name], ports[name], spec));
  }
}

const fmt = (ms) => ms.toFixed(3);
console.log(
  `\nRouter cost on a gateway request, concurrency 1, ${ROUNDS} × ${REQUESTS} requests per cell (ms)\n`,
);
console.log(
  '| request | hand-matched p50 | table p50 | added p50 | gateway-only table p50 | added p50 | hand-matched p99 | table p99 |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const caseName of Object.keys(cases)) {
  const hand = samples[`${caseName}|hand-matched`];
  const table = samples[`${caseName}|table`];
  const only = samples[`${caseName}|gateway-only table`];
  const p50 = (values) => percentile(values, 50);
  console.log(
    `| ${caseName} | ${fmt(p50(hand))} | ${fmt(p50(table))} | ${fmt(p50(table) - p50(hand))} | ${fmt(p50(only))} | ${fmt(p50(only) - p50(hand))} | ${fmt(percentile(hand, 99))} | ${fmt(percentile(table, 99))} |`,
  );
}
// Per round: the added p50 of each round, to show the spread.
console.log('\nadded p50 per round, table − hand-matched (ms):');
for (const caseName of Object.keys(cases)) {
  const perRound = [];
  for (let round = 0; round < ROUNDS; round++) {
    const slice = (name) => samples[`${caseName}|${name}`].slice(round * REQUESTS, (round + 1) * REQUESTS);
    perRound.push(percentile(slice('table'), 50) - percentile(slice('hand-matched'), 50));
  }
  console.log(`  ${caseName}: ${perRound.map(fmt).join(', ')}`);
}

for (const agent of Object.values(agents)) agent.destroy();
for (const server of Object.values(servers)) {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
await service.close();
await store.close();
upstream.child.kill('SIGTERM');
