// Floor of the gateway benchmarks: a bare Node proxy with no features at all. A plain node:http
// server that forwards POST /v1/chat/completions and /v1/messages (with the request's headers,
// the hop-by-hop ones aside) to the mock upstream with undici (one Pool of keep-alive
// connections) and pipes the answer back, streaming and not: no auth, no parsing, no routing,
// no accounting, no records. What any Node gateway pays for two HTTP hops; Keel's throughput is
// read against it.
//
//   node gateway/bare.js --port P --upstream-port U
//
// Started as a process of its own, like the gateways (start() below, used by measure.js).
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { resolve } from 'node:path';
import { Pool } from 'undici';
import { startProcess } from './procs.js';

export const name = 'bare Node proxy (undici)';

const SELF = fileURLToPath(import.meta.url);

/**
 * Starts the proxy on `port`; returns { proc, url, headers, info, close() }. `path`: the endpoint
 * the benchmark calls (default /v1/chat/completions; /v1/messages for Anthropic's format).
 */
export function start({ port, upstreamPort, path = '/v1/chat/completions' }) {
  const proc = startProcess('bare proxy', [
    SELF,
    '--port',
    String(port),
    '--upstream-port',
    String(upstreamPort),
  ]);
  return {
    proc,
    url: `http://127.0.0.1:${port}${path}`,
    headers:
      path === '/v1/messages' ? { 'x-api-key': 'sk-mock-bench' } : { authorization: 'Bearer sk-mock-bench' },
    info: { process: 'node:http + undici Pool, no features' },
    close: async () => {},
  };
}

/** The endpoints forwarded (query included, e.g. Claude Code's `/v1/messages?beta=true`). */
const FORWARDED = /^\/v1\/(chat\/completions|messages)(\?|$)/;

/** Hop-by-hop headers a proxy does not forward. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

function serve({ port, upstreamPort }) {
  const upstream = new Pool(`http://127.0.0.1:${upstreamPort}`, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const server = http.createServer({ keepAliveTimeout: 60_000, noDelay: true }, (request, response) => {
    if (request.method !== 'POST' || !FORWARDED.test(request.url)) {
      request.resume();
      response.writeHead(404, { 'content-type': 'application/json', 'content-length': 2 });
      response.end('{}');
      return;
    }
    const headers = {};
    for (const [k, v] of Object.entries(request.headers)) if (!HOP.has(k)) headers[k] = v;
    upstream
      .request({ path: request.url, method: 'POST', headers, body: request })
      .then(({ statusCode, headers: upstreamHeaders, body }) => {
        const out = {};
        for (const [k, v] of Object.entries(upstreamHeaders)) if (!HOP.has(k)) out[k] = v;
        response.writeHead(statusCode, out);
        body.pipe(response);
        response.once('close', () => body.destroy());
      })
      .catch((error) => {
        if (response.headersSent) response.destroy();
        else {
          response.writeHead(502, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ error: { message: String(error.message) } }));
        }
      });
  });
  server.headersTimeout = 60_000;
  server.requestTimeout = 0;
  const stop = () => {
    server.close();
    server.closeAllConnections();
    void upstream.destroy().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  server.listen(port, '127.0.0.1');
}

if (process.argv[1] && resolve(process.argv[1]) === SELF) {
  const arg = (flag) => Number(process.argv[process.argv.indexOf(flag) + 1]);
  serve({ port: arg('--port'), upstreamPort: arg('--upstream-port') });
}
