/**
 * The byte relay (`wire-relay.ts`, written by `createChatChunkRelay`) over HTTP: an OpenAI-wire
 * upstream scripted byte for byte (node:http, no fake in between), a Keel gateway in front of it,
 * and the same gateway without the relay (`streamWire` hidden: the event relay, as before) to
 * compare with. Relayed answers are the upstream's bytes but for the gateway's envelope; what the
 * call records (usage, cost, outcome) is what the event relay records; a cut, an error event, a
 * caller that leaves and a failure before the first byte behave as on the event relay.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../journal/open-store.js';
import { createOpenAICompatibleModel } from '../model/providers/openai/adapter.js';
import { createApiKeys } from './api-keys.js';
import type { GatewayConfigInput } from './gateway-config.js';
import type { CallMeta, Gateway } from './gateway-types.js';
import { createGateway, type KeelGateway } from './gateway.js';
import { createGatewayHandler } from './http/gateway-handler.js';

/** One scripted upstream answer: frames written one by one, then how the body ends. */
interface Script {
  frames?: string[];
  status?: number;
  /** `end` (default): a clean end; `destroy`: the connection reset; `hang`: nothing more. */
  then?: 'end' | 'destroy' | 'hang';
  /** Frames from this index on leave 50 ms after the ones before (another network read). */
  laterFrom?: number;
}

const UP_ID = 'chatcmpl-up123';
const UP_CREATED = 1_700_000_000;
const UP_MODEL = 'gpt-4o-mini-2024-07-18';
const upEnvelope = `{"id":"${UP_ID}","object":"chat.completion.chunk","created":${UP_CREATED},"model":"${UP_MODEL}"`;
const frame = (rest: string) =>
  `data: ${upEnvelope},"service_tier":"default","system_fingerprint":"fp_up",${rest}}\n\n`;
const delta = (json: string, finish = 'null') =>
  frame(`"choices":[{"index":0,"delta":${json},"logprobs":null,"finish_reason":${finish}}],"usage":null`);
const USAGE =
  '{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}}';
const answerFrames = (usage = true) => [
  delta('{"role":"assistant","content":"","refusal":null}'),
  delta('{"content":"Hello"}'),
  delta('{"content":", wörld"}'),
  delta('{}', '"stop"'),
  ...(usage ? [frame(`"choices":[],"usage":${USAGE}`)] : []),
  'data: [DONE]\n\n',
];

let upstream: Server;
let backup: Server;
const scripts: Script[] = [];
const upstreamBodies: Record<string, unknown>[] = [];
let upstreamClosed: Promise<void> = Promise.resolve();
let relayBase: string;
let eventBase: string;
let key: string;
let gateway: KeelGateway;
const calls: CallMeta[] = [];
let close: () => Promise<void>;

function serveScripts(request: IncomingMessage, response: ServerResponse) {
  const parts: Buffer[] = [];
  request.on('data', (part: Buffer) => parts.push(part));
  request.on('end', () => {
    upstreamBodies.push(JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>);
    const script = scripts.shift() ?? { frames: answerFrames() };
    if (script.status !== undefined && script.status !== 200) {
      response.writeHead(script.status, { 'content-type': 'application/json' });
      response.end('{"error":{"message":"upstream exploded","type":"server_error"}}');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const frames = script.frames ?? [];
    const split = script.laterFrom ?? frames.length;
    for (const text of frames.slice(0, split)) response.write(text);
    if (script.then === 'hang')
      upstreamClosed = new Promise((resolve) => response.on('close', () => resolve()));
    setTimeout(
      () => {
        for (const text of frames.slice(split)) response.write(text);
        // The reset only once what was written left (a destroy at once may drop it).
        if (script.then === 'destroy') setTimeout(() => response.destroy(), 50);
        else if (script.then !== 'hang') response.end();
      },
      split < frames.length || script.then === 'destroy' ? 50 : 0,
    );
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  upstream = createServer(serveScripts);
  backup = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(answerFrames().join('').replaceAll('Hello', 'Backup'));
    });
  });
  const upstreamUrl = await listen(upstream);
  const backupUrl = await listen(backup);
  const model = (baseURL: string) =>
    createOpenAICompatibleModel({ model: 'gpt-4o-mini', apiKey: 'sk-up', baseURL: `${baseURL}/v1`, env: {} });
  const config = {
    deployments: [
      // Built from the config (pooled undici transport), and a ready model (the trusted-usage wrapper).
      {
        name: 'up',
        provider: 'openai',
        model: 'gpt-4o-mini',
        baseURL: `${upstreamUrl}/v1`,
        apiKeyEnv: 'UP_KEY',
      },
      { name: 'backup', provider: 'openai', model: 'gpt-4o-mini', languageModel: model(backupUrl) },
      {
        name: 'up-idle',
        provider: 'openai',
        model: 'gpt-4o-mini',
        baseURL: `${upstreamUrl}/v1`,
        apiKeyEnv: 'UP_KEY',
        timeouts: { idleMs: 300 },
      },
    ],
    routes: [
      { name: 'chat', deployments: ['up'] },
      { name: 'chat-cached', deployments: ['up'], cache: true },
      { name: 'with-backup', deployments: ['up'], fallbacks: ['backup-route'] },
      { name: 'backup-route', deployments: ['backup'] },
      { name: 'chat-idle', deployments: ['up-idle'] },
    ],
    retry: { attemptsPerDeployment: 1 },
  } as unknown as GatewayConfigInput;
  const { store, client } = await openStore({ dataDir: 'memory://' });
  const apiKeys = createApiKeys({ client });
  gateway = createGateway({ config, env: { UP_KEY: 'sk-up' }, onCall: (meta) => calls.push(meta) });
  // The same gateway without the relay: every stream goes through the event relay.
  const eventsOnly: Gateway = { ...gateway, streamWire: undefined };
  const serve = (target: Gateway) => {
    const handler = createGatewayHandler({ gateway: target, apiKeys });
    return createServer((request, response) => {
      if (!handler(request, response)) response.writeHead(404).end();
    });
  };
  const relayServer = serve(gateway);
  const eventServer = serve(eventsOnly);
  relayBase = await listen(relayServer);
  eventBase = await listen(eventServer);
  key = (await apiKeys.create({ tenantId: 'acme', scopes: ['gateway'] })).key;
  close = async () => {
    for (const server of [relayServer, eventServer, upstream, backup]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await gateway.close();
    await store.close();
  };
});

afterAll(() => close?.());

beforeEach(() => {
  scripts.length = 0;
  calls.length = 0;
  upstreamBodies.length = 0;
});

async function post(
  base: string,
  body: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], stream: true, ...body }),
    ...(signal === undefined ? {} : { signal }),
  });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** The call's meta once its record is made (after the answer's last byte). */
async function lastCall(): Promise<CallMeta> {
  for (let tries = 0; calls.length === 0 && tries < 100; tries++) await new Promise((r) => setTimeout(r, 10));
  const meta = calls.at(-1);
  if (meta === undefined) throw new Error('no call recorded');
  return meta;
}

const dataOf = (text: string) =>
  text
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => event.slice('data: '.length));
const contentOf = (text: string) =>
  dataOf(text)
    .filter((data) => data !== '[DONE]')
    .map((data) => JSON.parse(data) as { choices?: { delta?: { content?: string } }[] })
    .map((chunk) => chunk.choices?.[0]?.delta?.content ?? '')
    .join('');
const comparable = (meta: CallMeta) => ({
  outcome: meta.outcome,
  usage: meta.usage,
  costUsd: meta.costUsd,
  attempts: meta.attempts,
  deployment: meta.deployment,
  error: meta.error?.code,
});

describe('a relayed stream', () => {
  it("is the upstream's bytes, with the gateway's envelope on each chunk", async () => {
    const sent = answerFrames();
    scripts.push({ frames: sent });
    const { status, text, headers } = await post(relayBase, {
      model: 'chat',
      stream_options: { include_usage: true },
    });
    expect(status).toBe(200);
    expect(headers.get('x-keel-deployment')).toBe('up');
    const first = JSON.parse(dataOf(text)[0] as string) as { id: string; created: number; model: string };
    expect(first.id).toMatch(/^chatcmpl-/);
    expect(first.id).not.toBe(UP_ID);
    expect(first.model).toBe('chat');
    const keelEnvelope = `{"id":"${first.id}","object":"chat.completion.chunk","created":${first.created},"model":"chat"`;
    expect(text).toBe(sent.join('').replaceAll(upEnvelope, keelEnvelope));
    // The upstream was asked for usage whatever the caller asked.
    expect(upstreamBodies[0]?.stream_options).toEqual({ include_usage: true });
  });

  it('records usage and cost as the event relay does, and carries the same text', async () => {
    scripts.push({ frames: answerFrames() });
    const relayed = await post(relayBase, { model: 'chat', stream_options: { include_usage: true } });
    const relayedCall = await lastCall();
    calls.length = 0;
    scripts.push({ frames: answerFrames() });
    const parsed = await post(eventBase, { model: 'chat', stream_options: { include_usage: true } });
    const parsedCall = await lastCall();
    expect(relayedCall.usage).toMatchObject({ inputTokens: 12, outputTokens: 5, source: 'reported' });
    expect(relayedCall.costUsd).toBeGreaterThan(0);
    expect(comparable(relayedCall)).toEqual(comparable(parsedCall));
    expect(contentOf(relayed.text)).toBe('Hello, wörld');
    expect(contentOf(relayed.text)).toBe(contentOf(parsed.text));
    // Both end with the same counts (the relayed one with the upstream's own details) and the end marker.
    const usageOf = (text: string) => (JSON.parse(dataOf(text).at(-2) as string) as { usage: object }).usage;
    const counts = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 };
    expect(usageOf(relayed.text)).toEqual(JSON.parse(USAGE));
    expect(usageOf(parsed.text)).toMatchObject(counts);
    expect(dataOf(relayed.text).at(-1)).toBe('[DONE]');
  });

  it('sends a caller that did not ask for usage neither the usage chunk nor usage fields', async () => {
    scripts.push({ frames: answerFrames() });
    const { text } = await post(relayBase, { model: 'chat' });
    expect(text).not.toContain('usage');
    expect(contentOf(text)).toBe('Hello, wörld');
    expect(dataOf(text).at(-1)).toBe('[DONE]');
    expect((await lastCall()).usage).toMatchObject({ inputTokens: 12, outputTokens: 5 });
  });

  it("sends Keel's estimate when the upstream sent no usage, as the event relay does", async () => {
    scripts.push({ frames: answerFrames(false) }, { frames: answerFrames(false) });
    const relayed = await post(relayBase, { model: 'chat', stream_options: { include_usage: true } });
    const relayedCall = await lastCall();
    calls.length = 0;
    const parsed = await post(eventBase, { model: 'chat', stream_options: { include_usage: true } });
    const parsedCall = await lastCall();
    expect(relayedCall.usage?.source).toBe('estimated');
    expect(comparable(relayedCall)).toEqual(comparable(parsedCall));
    const last = (text: string) =>
      JSON.parse(dataOf(text).at(-2) as string) as { choices: []; usage: unknown };
    expect(last(relayed.text)).toMatchObject({ choices: [], usage: last(parsed.text).usage });
  });

  it("re-serializes a chunk whose fields are in another order, the gateway's envelope first", async () => {
    scripts.push({
      frames: [
        `data: {"choices":[{"delta":{"content":"Odd"},"index":0}],"created":1,"id":"x","model":"m","object":"chat.completion.chunk"}\n\n`,
        `data: {"choices":[{"delta":{},"finish_reason":"stop","index":0}],"created":1,"id":"x","model":"m","object":"chat.completion.chunk"}\n\n`,
        'data: [DONE]\n\n',
      ],
    });
    const { text } = await post(relayBase, { model: 'chat' });
    const chunks = dataOf(text)
      .slice(0, -1)
      .map((data) => JSON.parse(data) as Record<string, unknown>);
    expect(chunks).toHaveLength(2);
    expect(Object.keys(chunks[0] as object).slice(0, 4)).toEqual(['id', 'object', 'created', 'model']);
    expect(chunks[0]).toMatchObject({ model: 'chat', choices: [{ delta: { content: 'Odd' }, index: 0 }] });
  });

  it('is served from the cache on a repeat, as a cached stream', async () => {
    scripts.push({ frames: answerFrames() });
    const body = { model: 'chat-cached', messages: [{ role: 'user', content: 'cache me' }] };
    const first = await post(relayBase, body);
    const second = await post(relayBase, body);
    expect(first.headers.get('x-keel-cache')).toBe('miss');
    expect(second.headers.get('x-keel-cache')).toBe('hit');
    expect(contentOf(second.text)).toBe('Hello, wörld');
    expect(upstreamBodies).toHaveLength(1);
  });
});

describe('a relayed stream that fails', () => {
  it('cut mid-way ends with an error event and no [DONE], recorded as the event relay records it', async () => {
    const cut = answerFrames().slice(0, 3);
    scripts.push({ frames: cut, then: 'destroy' }, { frames: cut, then: 'destroy' });
    const relayed = await post(relayBase, { model: 'chat' });
    const relayedCall = await lastCall();
    calls.length = 0;
    const parsed = await post(eventBase, { model: 'chat' });
    const parsedCall = await lastCall();
    expect(relayed.status).toBe(200);
    expect(contentOf(relayed.text)).toBe('Hello, wörld');
    expect(dataOf(relayed.text)).not.toContain('[DONE]');
    const error = JSON.parse(dataOf(relayed.text).at(-1) as string) as { error: { type: string } };
    expect(error.error.type).toBe('server_error');
    expect(dataOf(relayed.text).at(-1)).toBe(dataOf(parsed.text).at(-1));
    expect(relayedCall.outcome).toBe('error');
    expect(comparable(relayedCall)).toEqual(comparable(parsedCall));
  });

  it('ended cleanly before its finish chunk is a truncated answer, never a clean end', async () => {
    scripts.push({ frames: answerFrames().slice(0, 2) });
    const { text } = await post(relayBase, { model: 'chat' });
    expect(dataOf(text)).not.toContain('[DONE]');
    expect(text).toContain('"error"');
    expect((await lastCall()).error?.code).toBe('model_output_invalid');
  });

  it('with an error event after its first byte ends with an error event', async () => {
    scripts.push({
      frames: [
        ...answerFrames().slice(0, 2),
        'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n',
      ],
      laterFrom: 2,
    });
    const { text } = await post(relayBase, { model: 'chat' });
    expect(contentOf(text)).toBe('Hello');
    const last = JSON.parse(dataOf(text).at(-1) as string) as { error: { message: string } };
    expect(last.error.message).toContain('overloaded');
    expect(dataOf(text)).not.toContain('[DONE]');
    expect((await lastCall()).outcome).toBe('error');
  });

  it('silent past the idle timeout ends with a timeout error event, as on the event relay', async () => {
    scripts.push({ frames: answerFrames().slice(0, 2), then: 'hang' });
    const relayed = await post(relayBase, { model: 'chat-idle' });
    const relayedCall = await lastCall();
    calls.length = 0;
    scripts.push({ frames: answerFrames().slice(0, 2), then: 'hang' });
    const parsed = await post(eventBase, { model: 'chat-idle' });
    const parsedCall = await lastCall();
    expect(contentOf(relayed.text)).toBe('Hello');
    expect(dataOf(relayed.text)).not.toContain('[DONE]');
    expect(dataOf(relayed.text).at(-1)).toBe(dataOf(parsed.text).at(-1));
    expect(relayedCall.error?.code).toBe('upstream_idle_timeout');
    expect(comparable(relayedCall)).toEqual(comparable(parsedCall));
  });

  it('stops the upstream at once when the caller leaves, outcome cancelled', async () => {
    scripts.push({ frames: answerFrames().slice(0, 2), then: 'hang' });
    const controller = new AbortController();
    const response = await fetch(`${relayBase}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'Hi' }], stream: true }),
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let received = '';
    while (!received.includes('"content":"Hello"')) {
      const { value } = await reader.read();
      received += new TextDecoder().decode(value);
    }
    controller.abort();
    await upstreamClosed;
    expect((await lastCall()).outcome).toBe('cancelled');
  });

  it('before its first event falls back to the next deployment, as before', async () => {
    // An error status, then a stream whose only event before the error is the role chunk.
    scripts.push({ status: 500 });
    const first = await post(relayBase, { model: 'with-backup' });
    expect(first.headers.get('x-keel-deployment')).toBe('backup');
    expect(first.headers.get('x-keel-attempts')).toBe('2');
    expect(contentOf(first.text)).toBe('Backup, wörld');
    scripts.push({
      frames: [
        answerFrames()[0] as string,
        'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n',
      ],
    });
    const second = await post(relayBase, { model: 'with-backup' });
    expect(second.headers.get('x-keel-deployment')).toBe('backup');
    expect(contentOf(second.text)).toBe('Backup, wörld');
    expect(dataOf(second.text).at(-1)).toBe('[DONE]');
  });
});
