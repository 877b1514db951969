import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKeys } from '../src/gateway/api-keys.js';
import { openStore } from '../src/journal/open-store.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../src/testing/fake-openai-server.js';
import { createTestSchemaName, describePostgres } from '../src/testing/postgres.js';

const ROOT = resolve(import.meta.dirname, '..');

describePostgres('limits shared by two gateway processes', (connectionString) => {
  const database = createTestSchemaName();
  let databaseUrl: string;
  let upstream: FakeOpenAIServer;
  let directory: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.end();
    const url = new URL(connectionString);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
    upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'ok', delayMs: 5 }) });
    directory = mkdtempSync(join(tmpdir(), 'keel-shared-limits-'));
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(
      children
        .filter((child) => child.exitCode === null && child.signalCode === null)
        .map((child) => new Promise((done) => child.once('exit', done))),
    );
    await upstream?.close();
    rmSync(directory, { recursive: true, force: true });
    const admin = new pg.Client({ connectionString });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it('admit exactly the key’s rpm across both processes under concurrent load, and answer the rest 429 with Retry-After', async () => {
    const config = join(directory, 'keel.config.mjs');
    writeFileSync(
      config,
      `export default { gateway: {
        deployments: [{ name: 'fake', provider: 'openai-compatible', model: 'gpt-4o-mini', baseURL: '${upstream.url}' }],
        routes: [{ name: 'fast', deployments: ['fake'] }],
      } };\n`,
    );
    // Migrate and create a key with rpm 40 before the gateways start.
    const { store, client } = await openStore({ databaseUrl });
    const { key } = await createApiKeys({ client }).create({
      tenantId: 'acme',
      scopes: ['gateway'],
      rpm: 40,
    });
    await store.close();

    const urls = await Promise.all([startGateway(config), startGateway(config)]);
    const send = (url: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
      }).then(async (response) => ({
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: await response.text(),
      }));
    // 120 concurrent requests, split over both processes.
    const results = await Promise.all(Array.from({ length: 120 }, (_, index) => send(urls[index % 2]!)));
    const ok = results.filter((result) => result.status === 200);
    const limited = results.filter((result) => result.status === 429);
    expect(ok).toHaveLength(40);
    expect(limited).toHaveLength(80);
    expect(Number(limited[0]!.retryAfter)).toBeGreaterThan(0);
    expect(JSON.parse(limited[0]!.body)).toMatchObject({
      error: { code: 'rate_limit_exceeded', type: 'requests' },
    });
  }, 90_000);

  async function startGateway(config: string): Promise<string> {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin/keel.js'), 'gateway', '--port', '0', '--config', config],
      {
        env: { ...process.env, DATABASE_URL: databaseUrl, KEEL_LOG_LEVEL: 'error' },
        cwd: directory,
      },
    );
    children.push(child);
    let output = '';
    return new Promise<string>((ready, fail) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Keel gateway at (http:\/\/\S+)\/v1/.exec(output);
        if (match) ready(match[1]!);
      });
      child.once('exit', (code) => fail(new Error(`gateway exited ${code}: ${output}`)));
    });
  }
});
