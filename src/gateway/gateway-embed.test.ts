import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createScriptedModel } from '../model/builtin-model.js';
import { createGateway, type KeelGateway } from './gateway.js';

/** A minimal OpenAI `/v1/embeddings` upstream: scripted statuses, vectors out of order, recorded bodies. */
async function startEmbeddingsServer(statuses: number[] = []) {
  const bodies: unknown[] = [];
  const server: Server = createServer((incoming, outgoing) => {
    let raw = '';
    incoming.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    incoming.on('end', () => {
      const body = JSON.parse(raw) as { input: string[] };
      bodies.push(body);
      const status = statuses.shift() ?? 200;
      if (status !== 200) {
        outgoing.writeHead(status, { 'content-type': 'application/json', 'retry-after-ms': '10' });
        outgoing.end(JSON.stringify({ error: { message: `status ${status}` } }));
        return;
      }
      const data = body.input.map((text, index) => ({
        object: 'embedding',
        index,
        embedding: [text.length, index],
      }));
      outgoing.writeHead(200, { 'content-type': 'application/json' });
      outgoing.end(
        JSON.stringify({
          object: 'list',
          data: data.reverse(),
          usage: { prompt_tokens: 7, total_tokens: 7 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    bodies,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.map((close) => close()));
  closers = [];
});

describe('gateway embeddings', () => {
  it('embeds through the route, retrying and falling back like chat calls, vectors in input order', async () => {
    const overloaded = await startEmbeddingsServer([503, 503]);
    const healthy = await startEmbeddingsServer();
    closers.push(overloaded.close, healthy.close);
    const gateway: KeelGateway = createGateway({
      config: {
        deployments: [
          {
            name: 'scripted',
            provider: 'builtin',
            model: 'x',
            languageModel: createScriptedModel({ replies: ['hi'] }),
          } as never,
          {
            name: 'e0',
            provider: 'openai-compatible',
            model: 'text-embedding-3-small',
            baseURL: overloaded.url,
          },
          {
            name: 'e1',
            provider: 'openai',
            model: 'text-embedding-3-small',
            baseURL: healthy.url,
            apiKeyEnv: 'KEY',
          },
        ],
        routes: [{ name: 'embed', deployments: ['scripted', 'e0', 'e1'] }],
        retry: { baseMs: 1, capMs: 2 },
      },
      env: { KEY: 'sk-test-embed-0123456789' },
      random: () => 0,
    });
    closers.push(() => gateway.close());
    const result = await gateway.embed({ model: 'embed', input: ['a', 'bbb'], dimensions: 2 });
    expect(result.embeddings).toEqual([
      [1, 0],
      [3, 1],
    ]);
    expect(result.usage).toEqual({ inputTokens: 7 });
    expect(result.meta).toMatchObject({ deployment: 'e1', attempts: 3, outcome: 'ok' });
    expect(overloaded.bodies).toHaveLength(2);
    expect(healthy.bodies[0]).toEqual({
      model: 'text-embedding-3-small',
      input: ['a', 'bbb'],
      encoding_format: 'float',
      dimensions: 2,
    });
  });

  it('rejects a route without any embedding deployment', async () => {
    const gateway = createGateway({
      config: {
        deployments: [
          {
            name: 'scripted',
            provider: 'builtin',
            model: 'x',
            languageModel: createScriptedModel({ replies: ['hi'] }),
          } as never,
        ],
        routes: [{ name: 'chat', deployments: ['scripted'] }],
      },
    });
    closers.push(() => gateway.close());
    await expect(gateway.embed({ model: 'chat', input: ['a'] })).rejects.toMatchObject({
      code: 'embeddings_unsupported',
    });
  });
});
