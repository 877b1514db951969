/**
 * `keel gateway` as a newcomer starts it: a real process (bin/keel.js, the build in dist/), no
 * config file, only OPENAI_API_KEY and OPENAI_BASE_URL (a local fake OpenAI upstream), on the
 * embedded database. It prints the route it built and a local admin key; the official `openai`
 * client calls any model name through it with that key; `keel keys create` and `list` work
 * through the running gateway (which holds the database) and the key made there is accepted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { runCli } from '../__fixtures__/run-cli.js';

const BIN = join(resolve(import.meta.dirname, '../../..'), 'bin/keel.js');

let upstream: FakeOpenAIServer;
let directory: string;
let gateway: ChildProcess | undefined;

beforeAll(async () => {
  upstream = await createFakeOpenAIServer({
    handler: (request) => ({ content: `answered as ${String((request.body as { model?: unknown }).model)}` }),
  });
  directory = mkdtempSync(join(tmpdir(), 'keel-gateway-zero-'));
});

afterAll(async () => {
  if (gateway?.exitCode === null) gateway.kill('SIGKILL');
  await upstream?.close();
  rmSync(directory, { recursive: true, force: true });
});

/** Reads the child's stderr until `pattern` matches (or the child exits). */
function waitFor(child: ChildProcess, output: { text: string }, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = pattern.exec(output.text);
      if (found !== null) {
        child.stderr?.off('data', check);
        resolve(found);
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`keel gateway exited ${code}: ${output.text}`)));
    check();
  });
}

describe('keel gateway with no config file', { timeout: 120_000 }, () => {
  it('routes from OPENAI_API_KEY, prints a local key, and serves keel keys while it runs', async () => {
    const dataDir = join(directory, '.keel');
    const output = { text: '' };
    gateway = spawn(process.execPath, [BIN, 'gateway', '--port', '0'], {
      cwd: directory,
      env: {
        PATH: process.env.PATH,
        KEEL_LOG_LEVEL: 'error',
        KEEL_DATA_DIR: dataDir,
        OPENAI_API_KEY: 'sk-upstream',
        OPENAI_BASE_URL: upstream.url,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    gateway.stderr?.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    const [, baseURL] = await waitFor(gateway, output, /Keel gateway at (http:\/\/\S+\/v1)/);
    await waitFor(gateway, output, /keys create/);
    const adminKey = /shown once and kept in \S+:\n\s+(keel_sk_\S+)/.exec(output.text)?.[1];
    expect(adminKey, output.text).toBeDefined();
    // One line for the provider: which names go where, at which base URL, with which key.
    expect(output.text).toContain(`every model name → openai at ${upstream.url} (key from OPENAI_API_KEY)`);

    const client = new OpenAI({ apiKey: adminKey, baseURL, maxRetries: 0 });
    for (const model of ['gpt-4o-mini', 'a-model-no-catalogue-knows']) {
      const completion = await client.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(completion.choices[0]?.message.content).toBe(`answered as ${model}`);
    }
    // The upstream saw each name as sent, with the provider key from the environment.
    expect(upstream.requests.map((request) => (request.body as { model: string }).model)).toEqual([
      'gpt-4o-mini',
      'a-model-no-catalogue-knows',
    ]);
    expect(upstream.requests[0]?.headers.authorization).toBe('Bearer sk-upstream');
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual(['*']);

    // `keel keys` while the gateway holds the embedded database: through its /v1/keys.
    const created = await runCli(['keys', 'create', '--tenant', 'acme', '--scopes', 'gateway', '--json'], {
      dataDir,
      cwd: directory,
    });
    expect(created.code, created.stderr).toBe(0);
    const { key, id } = JSON.parse(created.stdout) as { key: string; id: string };
    const listed = await runCli(['keys', 'list', '--tenant', 'acme', '--json'], { dataDir, cwd: directory });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id, tenant_id: 'acme', scopes: ['gateway'], status: 'active' }),
    ]);
    const tenantClient = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 });
    const answer = await tenantClient.chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(answer.choices[0]?.message.content).toBe('answered as gpt-4.1');
    // A gateway key cannot manage keys.
    const refused = await fetch(`${baseURL}/keys`, { headers: { authorization: `Bearer ${key}` } });
    expect(refused.status).toBe(403);
    const revoked = await runCli(['keys', 'revoke', id], { dataDir, cwd: directory });
    expect(revoked.code, revoked.stderr).toBe(0);
    await expect(
      tenantClient.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Hi' }] }),
    ).rejects.toMatchObject({ status: 401 });

    const exited = new Promise<number | null>((resolve) => gateway?.once('exit', resolve));
    gateway.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
