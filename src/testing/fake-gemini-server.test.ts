import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseServerSentEvents } from '../model/sse.js';
import { createFakeGeminiServer, type FakeGeminiServer } from './fake-gemini-server.js';

let server: FakeGeminiServer;
beforeAll(async () => {
  server = await createFakeGeminiServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const body = { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] };
const post = (method: string, options: { key?: boolean; query?: string; signal?: AbortSignal } = {}) =>
  fetch(`${server.url}/models/gemini-2.5-flash:${method}${options.query ?? ''}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(options.key === false ? {} : { 'x-goog-api-key': 'k' }),
    },
    body: JSON.stringify(body),
    signal: options.signal,
  });

describe('the fake Gemini server', () => {
  it('answers generateContent with a GenerateContentResponse', async () => {
    server.enqueue({
      text: 'Hello!',
      functionCalls: [{ name: 'lookup', args: { q: 'x' }, thoughtSignature: 'c2ln' }],
      usage: { promptTokens: 3, candidatesTokens: 4, thoughtsTokens: 2 },
    });
    const response = await post('generateContent');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      candidates: [
        {
          content: {
            role: 'model',
            parts: [
              { text: 'Hello!' },
              { functionCall: { name: 'lookup', args: { q: 'x' } }, thoughtSignature: 'c2ln' },
            ],
          },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: {
        promptTokenCount: 3,
        candidatesTokenCount: 4,
        thoughtsTokenCount: 2,
        totalTokenCount: 9,
      },
      modelVersion: 'gemini-2.5-flash',
    });
    expect(server.requests[0]).toMatchObject({ model: 'gemini-2.5-flash', body, outcome: 'finished' });
  });

  it('streams server-sent events with the finish reason and full usage in the last one', async () => {
    server.enqueue({ text: 'abcdefghij', chunkSize: 4, usage: { promptTokens: 2, candidatesTokens: 3 } });
    const response = await post('streamGenerateContent', { query: '?alt=sse' });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const chunks: Record<string, unknown>[] = [];
    for await (const event of parseServerSentEvents({ source: response.body ?? new ReadableStream() })) {
      chunks.push(JSON.parse(event.data) as Record<string, unknown>);
    }
    expect(chunks).toHaveLength(4);
    expect(chunks.at(-1)).toMatchObject({
      candidates: [{ finishReason: 'STOP' }],
      usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 3 },
    });
    expect(chunks[0]).not.toHaveProperty('candidates.0.finishReason');
  });

  it('answers streamGenerateContent without alt=sse with a JSON array', async () => {
    server.enqueue({ text: 'abcdefgh', chunkSize: 4 });
    const chunks = (await (await post('streamGenerateContent')).json()) as unknown[];
    expect(chunks).toHaveLength(3);
  });

  it('refuses a request without a key with 403, and unknown paths with 404', async () => {
    const noKey = await post('generateContent', { key: false });
    expect(noKey.status).toBe(403);
    expect(await noKey.json()).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    const unknown = await fetch(`${server.url}/models/gemini-2.5-flash:countTokens`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    const withQueryKey = await post('generateContent', { key: false, query: '?key=k' });
    // Nothing scripted: the request passed the key check and got the unscripted 500.
    expect(withQueryKey.status).toBe(500);
  });

  it('refuses a turn of another role than user or model, and a part without exactly one kind of data', async () => {
    const send = (contents: unknown) =>
      fetch(`${server.url}/models/gemini-2.5-flash:generateContent`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': 'k' },
        body: JSON.stringify({ contents }),
      });
    const system = await send([{ role: 'system', parts: [{ text: 'Be brief.' }] }]);
    expect(system.status).toBe(400);
    expect(await system.json()).toMatchObject({
      error: { message: 'Please use a valid role: user, model.' },
    });
    const twoKinds = await send([
      { role: 'user', parts: [{ text: 'Hi', inlineData: { mimeType: 'image/png', data: 'x' } }] },
    ]);
    expect(twoKinds.status).toBe(400);
    expect(server.requests.every((request) => request.outcome === 'finished')).toBe(true);
  });

  it('sends Google error bodies with RetryInfo and retry-after', async () => {
    server.enqueue({ kind: 'error', status: 429, retryDelay: '12s', retryAfter: 5 });
    const response = await post('generateContent');
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toEqual({
      error: {
        code: 429,
        message: expect.stringContaining('quota') as unknown,
        status: 'RESOURCE_EXHAUSTED',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12s' }],
      },
    });
  });

  it('records the outcome: finished, reset or client-closed', async () => {
    server.enqueue({ text: 'ok' });
    server.enqueue({ kind: 'reset' });
    server.enqueue({ kind: 'hang' });
    await (await post('generateContent')).text();
    await post('generateContent').catch(() => undefined);
    const controller = new AbortController();
    const hanging = post('generateContent', { signal: controller.signal }).catch(() => undefined);
    await expect.poll(() => server.requests.length).toBe(3);
    controller.abort();
    await hanging;
    await expect
      .poll(() => server.requests.map((request) => request.outcome))
      .toEqual(['finished', 'reset', 'client-closed']);
  });
});
