import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../../metrics/__fixtures__/parse-exposition.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { main } from '../main.js';

let upstream: FakeOpenAIServer;
let directory: string;
let config: string;

beforeAll(async () => {
  upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'Hello through keel gateway' }) });
  directory = mkdtempSync(join(tmpdir(), 'keel-gateway-cli-'));
  config = join(directory, 'keel.config.mjs');
  writeFileSync(
    config,
    `export default { gateway: {
      deployments: [{ name: 'fake', provider: 'openai-compatible', model: 'gpt-4o-mini', baseURL: '${upstream.url}' }],
      routes: [{ name: 'fast', deployments: ['fake'] }],
    } };\n`,
  );
});

afterAll(async () => {
  await upstream?.close();
  rmSync(directory, { recursive: true, force: true });
});

function io(signal = new AbortController().signal) {
  const output = { stdout: '', stderr: '' };
  return {
    output,
    io: {
      stdout: { write: (text: string) => (output.stdout += text) },
      stderr: { write: (text: string) => (output.stderr += text) },
      env: { KEEL_DATA_DIR: join(directory, '.keel'), KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH },
      cwd: directory,
      signal,
    },
  };
}

// Every command opens the embedded database anew (the first one creates it): slow on a busy machine.
describe('keel keys and keel gateway', { timeout: 120_000 }, () => {
  it('creates, lists and revokes keys, and serves the gateway with them until SIGTERM', async () => {
    const created = io();
    expect(
      await main(
        [
          'keys',
          'create',
          '--tenant',
          'acme',
          '--scopes',
          'gateway',
          '--name',
          'ci',
          '--rpm',
          '100',
          '--json',
        ],
        created.io,
      ),
    ).toBe(0);
    const { key, id } = JSON.parse(created.output.stdout) as { key: string; id: string };
    expect(key).toMatch(/^keel_sk_/);

    const other = io();
    expect(await main(['keys', 'create', '--tenant', 'other', '--scopes', 'runs:read'], other.io)).toBe(0);
    expect(other.output.stdout).toMatch(/^keel_sk_\w+\n\nCreated key_\w+ for tenant other/);

    const listed = io();
    expect(await main(['keys', 'list', '--tenant', 'acme'], listed.io)).toBe(0);
    expect(listed.output.stdout).toContain(id);
    expect(listed.output.stdout).toContain('active');
    expect(listed.output.stdout).not.toContain(key);
    expect(listed.output.stdout).not.toContain('other');

    const scraper = io();
    expect(
      await main(['keys', 'create', '--tenant', 'ops', '--scopes', 'metrics', '--json'], scraper.io),
    ).toBe(0);
    const metricsKey = (JSON.parse(scraper.output.stdout) as { key: string }).key;

    expect(await main(['keys', 'create', '--tenant', 'acme', '--scopes', 'everything'], io().io)).toBe(2);
    expect(await main(['keys', 'revoke'], io().io)).toBe(2);

    const controller = new AbortController();
    const served = io(controller.signal);
    // A provider key in the environment adds no route beside a `gateway` section.
    Object.assign(served.io.env, { OPENAI_API_KEY: 'sk-not-used' });
    const running = main(['gateway', '--port', '0', '--config', config], served.io);
    const deadline = Date.now() + 20_000;
    let baseURL: string | undefined;
    while (baseURL === undefined && Date.now() < deadline) {
      baseURL = /at (http:\/\/\S+\/v1)/.exec(served.output.stderr)?.[1];
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(baseURL, served.output.stderr).toBeDefined();
    // On the embedded database it creates the local admin key, as keel serve does, and prints it once.
    expect(served.output.stderr).toContain(
      `Created a local admin API key (tenant "default"), shown once and kept in ${join(directory, '.keel', 'admin-key')}:\n  ${readFileSync(join(directory, '.keel', 'admin-key'), 'utf8').trim()}\n`,
    );
    const client = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'fast',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.message.content).toBe('Hello through keel gateway');
    expect(served.output.stderr).toContain('/v1 serving fast\n');
    expect((await client.models.list()).data.map((model) => model.id)).toEqual(['fast']);
    await expect(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] }),
    ).rejects.toMatchObject({ status: 404 });
    expect((await fetch(`${baseURL}/../healthz`)).status).toBe(200);
    // Its Prometheus metrics on the same port, for a key with the metrics scope only.
    const metricsUrl = baseURL!.replace(/\/v1$/, '/metrics');
    expect((await fetch(metricsUrl)).status).toBe(401);
    expect((await fetch(metricsUrl, { headers: { authorization: `Bearer ${key}` } })).status).toBe(403);
    const scraped = await fetch(metricsUrl, { headers: { authorization: `Bearer ${metricsKey}` } });
    expect(scraped.status).toBe(200);
    const exposition = parseExposition(await scraped.text());
    expect(
      exposition.value('keel_gateway_requests_total', { route: 'fast', deployment: 'fake', outcome: 'ok' }),
    ).toBe(1);
    expect(exposition.value('keel_gateway_breaker_open', { deployment: 'fake' })).toBe(0);
    controller.abort();
    expect(await running).toBe(0);

    const revoked = io();
    expect(await main(['keys', 'revoke', id], revoked.io)).toBe(0);
    expect(revoked.output.stdout).toContain(`Revoked ${id}`);
    const after = io();
    expect(await main(['keys', 'list', '--json'], after.io)).toBe(0);
    expect(JSON.parse(after.output.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ id, status: 'revoked', rpm: 100, name: 'ci' })]),
    );
  });

  it('mounts the gateway in keel serve beside the runs API', async () => {
    const created = io();
    expect(
      await main(['keys', 'create', '--tenant', 'acme', '--scopes', 'gateway', '--json'], created.io),
    ).toBe(0);
    const { key } = JSON.parse(created.output.stdout) as { key: string };
    const controller = new AbortController();
    const served = io(controller.signal);
    // The run API's body limit comes from the environment.
    Object.assign(served.io.env, { KEEL_MAX_BODY_BYTES: '64' });
    const running = main(['serve', '--port', '0', '--no-worker', '--config', config], served.io);
    const deadline = Date.now() + 20_000;
    let url: string | undefined;
    while (url === undefined && Date.now() < deadline) {
      url = /at (http:\/\/\S+)\n/.exec(served.output.stderr)?.[1];
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(url, served.output.stderr).toBeDefined();
    const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
    const completion = await client.chat.completions.create({
      model: 'fast',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(completion.choices[0]?.message.content).toBe('Hello through keel gateway');
    // The runs API needs a key with a runs scope: the local admin key serve created, not a gateway key.
    expect((await fetch(`${url}/v1/runs`)).status).toBe(401);
    const gatewayOnly = await fetch(`${url}/v1/runs`, { headers: { authorization: `Bearer ${key}` } });
    expect(gatewayOnly.status).toBe(403);
    const adminKeyFile = join(directory, '.keel', 'admin-key');
    expect(statSync(adminKeyFile).mode & 0o777).toBe(0o600);
    const adminKey = readFileSync(adminKeyFile, 'utf8').trim();
    // `keel gateway` above created (and printed) it; serve reuses it.
    expect(served.output.stderr).not.toContain('Created a local admin API key');
    const runs = await fetch(`${url}/v1/runs`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(runs.status).toBe(200);
    const tooLarge = await fetch(`${url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'x', input: 'y'.repeat(100) }),
    });
    expect(tooLarge.status).toBe(413);
    controller.abort();
    expect(await running).toBe(0);
  });

  it('refuses a config without a gateway section when no provider key is set', async () => {
    const agentsOnly = join(directory, 'agents.mjs');
    writeFileSync(agentsOnly, 'export default { agents: [] };\n');
    const run = io();
    expect(await main(['gateway', '--config', agentsOnly, '--json'], run.io)).toBe(3);
    expect(run.output.stderr).toContain('"code":"gateway_no_provider_keys"');
    expect(run.output.stderr).toContain('OPENAI_API_KEY');
    // No config file at all: the same refusal, not config_not_found.
    const empty = mkdtempSync(join(tmpdir(), 'keel-gateway-none-'));
    try {
      const none = io();
      Object.assign(none.io, { cwd: empty });
      expect(await main(['gateway'], none.io)).toBe(3);
      expect(none.output.stderr).toContain('no provider key is set');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
