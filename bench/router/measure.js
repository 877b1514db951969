#!/usr/bin/env node
// What the API's router (Hono, via @hono/node-server) would add to a gateway request, against
// the hand-matched dispatch `createServer` uses for the gateway's endpoints today. One process,
// same run: two servers over the same gateway handler (Keel's real one, on an in-memory PGlite,
// calling the mock upstream of bench/gateway in a child process), requests interleaved in rounds
// at concurrency 1 over keep-alive.
//
//   npm run build && node bench/router/measure.js
//
// Settings: KEEL_BENCH_ROUTER_REQUESTS (per round and case, default 1000), KEEL_BENCH_ROUTER_ROUNDS
// (default 5). Prints a markdown table: p50 and p99 per case, and Hono − hand-matched.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApiKeys, createGatewayService, openStore, silentLogger } from '../../dist/index.js';
import { createApiListener } from '../../dist/server/api-app.js';
import { defineRoute } from '../../dist/server/route-table.js';
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

/** Hand-matched: what `createServer` does for the gateway's endpoints (before the API's table). */
function handMatched(gatewayHandler) {
  return http.createServer((request, response) => {
    const arrivedAt = performance.now();
    if (gatewayHandler(request, response)) {
      logRequest({ logger: silentLogger, request, response, startedAt: arrivedAt });
      return;
    }
    response.writeHead(404).end();
  });
}

/** The gateway's endpoints as routes of the table, through Hono. */
function throughHono(gatewayHandler) {
  const handle = ({ request, response }) =>
    new Promise((resolve) => {
      response.once('close', resolve);
      gatewayHandler(request, response);
    });
  const routes = [
    defineRoute({
      method: 'POST',
      path: '/v1/chat/completions',
      scopes: [],
      summary: '',
      responses: {},
      handle,
    }),
    defineRoute({ method: 'GET', path: '/v1/models', scopes: [], summary: '', responses: {}, handle }),
  ];
  const listener = createApiListener({
    routes,
    dependencies: {},
    onError: (_request, response, error) => sendError(response, error),
  });
  return http.createServer((request, response) => {
    const arrivedAt = performance.now();
    logRequest({ logger: silentLogger, request, response, startedAt: arrivedAt });
    void listener(request, response, new URL(request.url ?? '/', 'http://localhost'));
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
const servers = { 'hand-matched': handMatched(service.handler), hono: throughHono(service.handler) };
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
console.log('| request | hand-matched p50 | Hono p50 | added p50 | hand-matched p99 | Hono p99 |');
console.log('| --- | --- | --- | --- | --- | --- |');
const results = {};
for (const caseName of Object.keys(cases)) {
  const hand = samples[`${caseName}|hand-matched`];
  const hono = samples[`${caseName}|hono`];
  const added = percentile(hono, 50) - percentile(hand, 50);
  results[caseName] = { hand: percentile(hand, 50), hono: percentile(hono, 50), added };
  console.log(
    `| ${caseName} | ${fmt(percentile(hand, 50))} | ${fmt(percentile(hono, 50))} | ${fmt(added)} | ${fmt(percentile(hand, 99))} | ${fmt(percentile(hono, 99))} |`,
  );
}
// Per round: the added p50 of each round, to show the spread.
console.log('\nadded p50 per round (ms):');
for (const caseName of Object.keys(cases)) {
  const perRound = [];
  for (let round = 0; round < ROUNDS; round++) {
    const slice = (name) => samples[`${caseName}|${name}`].slice(round * REQUESTS, (round + 1) * REQUESTS);
    perRound.push(percentile(slice('hono'), 50) - percentile(slice('hand-matched'), 50));
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
