// The fake Anthropic upstream of the coding-session benchmark: answers POST /v1/messages with the
// answer recorded for the same turn of the session (session.json), byte for byte and one write
// per streamed event as the recording's fake sent them (thinking, text, tool calls, usage), with
// its headers. Precomputed: it parses no body, only counts the request's assistant turns.
//
//   node coding-session/upstream.js      (prints {"port": N} once listening; KEEL_BENCH_MOCK_PORT to pick one)
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { readSession, turnOf } from './session.js';

const session = readSession();
/** Recorded answer by turn: { status, headers, chunks: Buffer[] }. */
const answers = new Map();
for (const e of session.exchanges) {
  const turn = turnOf(e.body);
  if (answers.has(turn)) continue;
  answers.set(turn, {
    status: e.response.status,
    // Node sets the date of the answer itself.
    headers: Object.fromEntries(e.response.headers.filter(([name]) => name.toLowerCase() !== 'date')),
    chunks: e.response.chunks.map((c) => Buffer.from(c, 'utf8')),
  });
}

const server = http.createServer({ keepAliveTimeout: 60_000, noDelay: true }, (req, res) => {
  if (req.method !== 'POST' || !req.url.startsWith('/v1/messages')) {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
    return;
  }
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0].toString('latin1') : Buffer.concat(parts).toString('latin1');
    const answer = answers.get(turnOf(body));
    if (!answer) {
      const text = JSON.stringify({
        type: 'error',
        error: { type: 'invalid_request_error', message: `no recorded answer for turn ${turnOf(body)}` },
      });
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(answer.status, answer.headers);
    const { chunks } = answer;
    for (let i = 0; i < chunks.length - 1; i++) res.write(chunks[i]);
    res.end(chunks[chunks.length - 1]);
  });
});
server.headersTimeout = 60_000;
server.requestTimeout = 0;

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(Number(process.env.KEEL_BENCH_MOCK_PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
