// Floor of the gateway benchmark: a bare Node proxy with no features at all. A plain node:http
// server that forwards POST /v1/chat/completions to the mock upstream with undici (one Pool of
// keep-alive connections) and pipes the answer back, streaming and not: no auth, no parsing,
// no routing, no accounting, no records. What any Node gateway pays for two HTTP hops; Keel's
// throughput is read against it.
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

/** Starts the proxy on `port`; returns { proc, url, headers, info, close() }. */
export function start({ port, upstreamPort }) {
  const proc = startProcess('bare proxy', [
    SELF,
    '--port',
    String(port),
    '--upstream-port',
    String(upstreamPort),
  ]);
  return {
    proc,
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: { authorization: 'Bearer sk-mock-bench' },
    info: { process: 'node:http + undici Pool, no features' },
    close: async () => {},
  };
}

/** Hop-by-hop headers a proxy does not forward. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

function serve({ port, upstreamPort }) {
  const upstream = new Pool(`http://127.0.0.1:${upstreamPort}`, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const server = http.createServer({ keepAliveTimeout: 60_000, noDelay: true }, (request, response) => {
    if (request.method !== 'POST' || !request.url.startsWith('/v1/chat/completions')) {
      request.resume();
      response.writeHead(404, { 'content-type': 'application/json', 'content-length': 2 });
      response.end('{}');
      return;
    }
    const headers = {
      'content-type': request.headers['content-type'] ?? 'application/json',
      authorization: request.headers.authorization ?? '',
    };
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
