/**
 * The plumbing of a scriptable local HTTP fake, shared by the wire-level fakes of model providers
 * (`fake-openai-server.ts`, `fake-anthropic-server.ts`, `fake-gemini-server.ts`): start on
 * 127.0.0.1 with a free port, record every request with its outcome, hand out scripted replies,
 * send JSON, event streams and raw bytes, reset connections, and close with hanging responses
 * ended. What a provider sends (bodies, event sequences, error shapes, headers) stays in its fake.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What became of a request's answer: `finished`: it was sent; `client-closed`: the client went
 * away before that; `reset`: a scripted reset.
 */
export type FakeRequestOutcome = 'pending' | 'finished' | 'client-closed' | 'reset';

/** A request as received. `outcome` is updated while the answer is sent. */
export interface FakeRecordedRequest {
  method: string;
  /** Path and query, e.g. `/v1/messages?beta=true`. */
  path: string;
  /** Lowercase header names. */
  headers: Record<string, string>;
  /** The parsed JSON body, or undefined when it was not JSON. */
  body: unknown;
  rawBody: string;
  /** `finished`: the answer was sent; `client-closed`: the client went away before that; `reset`: a scripted reset. */
  outcome: FakeRequestOutcome;
}

/** One request being answered. `record` is already in the server's `requests`. */
export interface FakeExchange<Request extends FakeRecordedRequest> {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
  record: Request;
}

/** Options of {@link startFakeServer}. */
export interface FakeServerOptions<Request extends FakeRecordedRequest> {
  /**
   * Turns the common record into the provider's, e.g. to add the model named in the path. Return a
   * new object: the outcome is tracked on what this returns. Without it, the record is the common
   * one, so `Request` must then be {@link FakeRecordedRequest}.
   */
  record?: (request: FakeRecordedRequest) => Request;
  /** Answers one request. */
  handle: (exchange: FakeExchange<Request>) => Promise<void>;
  /**
   * Answers a request whose `handle` threw before sending headers, with a 500 in the provider's
   * error shape. Once headers are out, the connection is destroyed instead.
   */
  sendFailure: (outgoing: ServerResponse, message: string) => void;
}

/** A running fake, before the provider adds its URL and script. */
export interface StartedFakeServer<Request extends FakeRecordedRequest> {
  /** `http://127.0.0.1:<port>`, without a path. */
  origin: string;
  /** Every request received, in order. */
  requests: Request[];
  /** Stops the server, ending hanging responses and open connections. */
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 with a free port that records requests and answers them with `handle`. */
export async function startFakeServer<Request extends FakeRecordedRequest>(
  options: FakeServerOptions<Request>,
): Promise<StartedFakeServer<Request>> {
  const { record: toRecord, handle, sendFailure } = options;
  const requests: Request[] = [];
  // Tracked so close() can end hanging responses and idle keep-alive connections at once.
  const sockets = new Set<Socket>();

  async function receive(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const rawBody = await readBody(incoming);
    const common: FakeRecordedRequest = {
      method: incoming.method ?? 'GET',
      path: incoming.url ?? '/',
      headers: flattenHeaders(incoming.headers),
      body: parseJson(rawBody),
      rawBody,
      outcome: 'pending',
    };
    const record = toRecord === undefined ? (common as Request) : toRecord(common);
    requests.push(record);
    outgoing.on('close', () => {
      if (record.outcome === 'pending')
        record.outcome = outgoing.writableFinished ? 'finished' : 'client-closed';
    });
    await handle({ incoming, outgoing, record });
  }

  const server = createServer((incoming, outgoing) => {
    void receive(incoming, outgoing).catch((error: unknown) => {
      if (!outgoing.headersSent) sendFailure(outgoing, `fake server failed: ${String(error)}`);
      else outgoing.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The replies of a fake: scripted ones in order, then the handler's, then a fixed fallback. */
export interface ReplyScript<Reply, Request> {
  /** The reply to this request. Takes a scripted reply at once, before any await. */
  next(request: Request): Promise<Reply>;
  /** Appends a reply to the script. */
  enqueue(reply: Reply): void;
}

/** Options of {@link createReplyScript}. */
export interface ReplyScriptOptions<Reply, Request> {
  script?: Reply[];
  /** Answers once the script is used up. */
  handler?: (request: Request) => Reply | Promise<Reply>;
  /** The reply when neither the script nor a handler has one, usually a 500. */
  unscripted: Reply;
}

/** Creates the reply queue of a fake. */
export function createReplyScript<Reply, Request>(
  options: ReplyScriptOptions<Reply, Request>,
): ReplyScript<Reply, Request> {
  const { script = [], handler, unscripted } = options;
  const queue = [...script];
  return {
    async next(request) {
      return queue.shift() ?? (await handler?.(request)) ?? unscripted;
    },
    enqueue(reply) {
      queue.push(reply);
    },
  };
}

/** Exactly these bytes: each string of `body` is written separately, to split events across writes. */
export interface FakeRawReply {
  kind: 'raw';
  status?: number;
  headers?: Record<string, string>;
  body: string | string[];
  delayMs?: number;
}

/** Sends a {@link FakeRawReply}: by default a 200 event stream, each part its own write. */
export async function sendRaw(outgoing: ServerResponse, reply: FakeRawReply): Promise<void> {
  outgoing.writeHead(reply.status ?? 200, reply.headers ?? { 'content-type': 'text/event-stream' });
  for (const part of typeof reply.body === 'string' ? [reply.body] : reply.body) {
    if (outgoing.destroyed) return;
    outgoing.write(part);
    if (reply.delayMs) await delay(reply.delayMs);
  }
  outgoing.end();
}

/** Sends JSON with `content-length`; `headers` may replace the `application/json` content type. */
export function sendJson(
  outgoing: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  outgoing.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  outgoing.end(text);
}

/** How a streamed answer ends: cleanly, by stalling until the client or close() ends it, or by a reset. */
export type FakeStreamEnding = 'end' | 'hang' | 'reset';

/** Options of {@link sendEventStream}. */
export interface EventStreamOptions {
  /** The record whose outcome becomes `reset` on a reset ending. */
  record: FakeRecordedRequest;
  /** The headers of the 200, content type included. */
  headers: Record<string, string>;
  /** The wire text of each event, terminator included; each is written separately. */
  frames: string[];
  /** Pause after each frame, in milliseconds (a slow drip). */
  delayMs?: number | undefined;
  ending: FakeStreamEnding;
  /** Written after the frames on an `end` ending only, e.g. OpenAI's `data: [DONE]`. */
  trailer?: string | undefined;
}

/**
 * Sends a 200 event stream frame by frame, flushing headers first so the client sees the stream
 * open. Stops quietly as soon as the client has gone away.
 */
export async function sendEventStream(outgoing: ServerResponse, options: EventStreamOptions): Promise<void> {
  const { record, headers, frames, delayMs, ending, trailer } = options;
  outgoing.writeHead(200, headers);
  outgoing.flushHeaders();
  for (const frame of frames) {
    if (outgoing.destroyed) return;
    outgoing.write(frame);
    if (delayMs) await delay(delayMs);
  }
  if (outgoing.destroyed) return;
  if (ending === 'reset') {
    resetConnection(record, outgoing.socket);
    return;
  }
  // A hang sends nothing more; the response ends when the client leaves or close() destroys it.
  if (ending === 'hang') return;
  if (trailer !== undefined) outgoing.write(trailer);
  outgoing.end();
}

/** Destroys the connection of a request, as a scripted reset, and records it as such. */
export function resetConnection(record: FakeRecordedRequest, socket: Socket | null): void {
  record.outcome = 'reset';
  socket?.destroy();
}

/** Splits by code points so no delta ends inside a surrogate pair. */
export function splitByCodePoints(text: string, size: number): string[] {
  const characters = Array.from(text);
  const pieces: string[] = [];
  for (let start = 0; start < characters.length; start += size)
    pieces.push(characters.slice(start, start + size).join(''));
  return pieces;
}

/** The parsed JSON, or undefined when the text is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

function readBody(incoming: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    incoming.on('data', (part: Buffer) => parts.push(part));
    incoming.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    incoming.on('error', reject);
  });
}

function flattenHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) result[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return result;
}
