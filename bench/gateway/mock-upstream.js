// A mock OpenAI-compatible upstream, as cheap as a server can be: node:http with keep-alive,
// every response body precomputed. Runs in a process of its own (so it never shares an event
// loop with the load generator or a gateway):
//
//   node gateway/mock-upstream.js        → prints {"port":N} on stdout once listening (127.0.0.1)
//
// POST /v1/chat/completions: a chat.completion JSON, or, when the request body says
// "stream": true, an SSE stream: a role chunk, CONTENT.length content chunks (one write each),
// a finish chunk, a usage chunk and [DONE]. Anything else: 404. Stops on SIGTERM / SIGINT (and,
// started with --import gateway/orphan-guard.mjs as measure.js does, when its parent is gone).
import { Buffer } from 'node:buffer';
import http from 'node:http';

const MODEL = 'gpt-4o-mini';
const CREATED = 1_763_700_000;
const ID = 'chatcmpl-bench0000000000000000000000';
const CONTENT = ['The ', 'quick brown fox ', 'jumps over ', 'the lazy dog.'];
const USAGE = { prompt_tokens: 24, completion_tokens: 9, total_tokens: 33 };

const JSON_BODY = Buffer.from(
  JSON.stringify({
    id: ID,
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: CONTENT.join(''), refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: USAGE,
    system_fingerprint: 'fp_bench',
  }),
);

const chunk = (delta, finishReason = null, extra = {}) =>
  Buffer.from(
    `data: ${JSON.stringify({
      id: ID,
      object: 'chat.completion.chunk',
      created: CREATED,
      model: MODEL,
      system_fingerprint: 'fp_bench',
      choices: delta ? [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] : [],
      ...extra,
    })}\n\n`,
  );

/** The SSE events, one write each. */
const SSE_EVENTS = [
  chunk({ role: 'assistant', content: '', refusal: null }),
  ...CONTENT.map((content) => chunk({ content })),
  chunk({}, 'stop'),
  chunk(null, null, { usage: USAGE }),
  Buffer.from('data: [DONE]\n\n'),
];

const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': JSON_BODY.length };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
const STREAM_TRUE = /"stream"\s*:\s*true/;

const server = http.createServer({ keepAliveTimeout: 60_000, noDelay: true }, (req, res) => {
  if (req.method !== 'POST' || !req.url.startsWith('/v1/chat/completions')) {
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
    return;
  }
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    const body = parts.length === 1 ? parts[0].toString('latin1') : Buffer.concat(parts).toString('latin1');
    if (!STREAM_TRUE.test(body)) {
      res.writeHead(200, JSON_HEADERS);
      res.end(JSON_BODY);
      return;
    }
    res.writeHead(200, SSE_HEADERS);
    for (let i = 0; i < SSE_EVENTS.length - 1; i++) res.write(SSE_EVENTS[i]);
    res.end(SSE_EVENTS[SSE_EVENTS.length - 1]);
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
