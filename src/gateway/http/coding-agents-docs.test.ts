/**
 * docs/coding-agents.md as written: its config file loads as `keel gateway` loads it, and with its
 * two upstreams pointed at fakes, a call made as its Claude Code recipe makes it fails over from
 * Anthropic to OpenAI and is charged to the developer's budget the page declares. Its Claude Code
 * variables and its Codex `config.toml` are the ones the recipe tests run with (the real
 * packages: recipe-coding-cli.test.ts, recipe-codex.test.ts): change one, change the other.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBudgets } from '../../budgets/open-budgets.js';
import { loadConfig } from '../../config/load-config.js';
import { openStore } from '../../journal/open-store.js';
import { createFakeAnthropicServer, type FakeAnthropicServer } from '../../testing/fake-anthropic-server.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../testing/fake-openai-server.js';
import { silentLogger } from '../../util/logger.js';
import { createApiKeys } from '../api-keys.js';
import { createDeploymentModels } from '../deployment-models.js';
import { deploymentSchema, timeoutsSchema, type GatewayConfigInput } from '../gateway-config.js';
import { systemClock } from '../../util/clock.js';
import { createGatewayService } from './gateway-service.js';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const DOC = read('../../../docs/coding-agents.md');
const CLAUDE_RECIPE = read('./recipe-coding-cli.test.ts');
const CODEX_RECIPE = read('./recipe-codex.test.ts');

/** The fenced blocks of the page in `language`, in order. */
function blocks(language: string): string[] {
  return [...DOC.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map(
    (match) => match[1]!,
  );
}

/** The `NAME=value` assignments of the page's Claude Code block (the one that runs `claude`). */
function claudeVariables(): Map<string, string> {
  const block = blocks('sh').find((text) => /^claude$/m.test(text));
  expect(block, 'a sh block ending in `claude`').toBeDefined();
  const variables = new Map<string, string>();
  for (const match of block!.matchAll(/([A-Z_]+)=('[^']*'|\S+)/g))
    variables.set(match[1]!, match[2]!.replace(/^'|'$/g, ''));
  return variables;
}

/** The lines of `codexConfig` in recipe-codex.test.ts, as the test writes them to config.toml. */
function codexRecipeLines(): { line: string; recipe: boolean }[] {
  const body = /function codexConfig\([^)]*\): string \{([\s\S]*?)\]\.join/.exec(CODEX_RECIPE)?.[1];
  expect(body, 'codexConfig in recipe-codex.test.ts').toBeDefined();
  return [...body!.matchAll(/^\s*(['`])(.*)\1,(.*)$/gm)]
    .map((match) => ({
      line: match[2]!.replace('${gatewayUrl}', 'http://localhost:4000'),
      recipe: match[3]!.includes('the recipe'),
    }))
    .filter(({ line }) => line !== '');
}

describe('docs/coding-agents.md', { timeout: 180_000 }, () => {
  it("Claude Code's variables are the recipe test's", () => {
    const documented = claudeVariables();
    // The recipe test's own block of variables ("The recipe:"), all documented.
    const section = /\/\/ The recipe:\n([\s\S]*?)\.\.\.env,/.exec(CLAUDE_RECIPE)?.[1] ?? '';
    const tested = [...section.matchAll(/^\s*([A-Z_]+):/gm)].map((match) => match[1]!);
    expect(tested.length).toBeGreaterThan(0);
    for (const name of tested) expect([...documented.keys()]).toContain(name);
    for (const [name, value] of documented) {
      // The gateway's address and the key differ; every other value is the one the test sets.
      if (name === 'ANTHROPIC_BASE_URL') expect(value).toBe('http://localhost:4000');
      else if (name === 'ANTHROPIC_API_KEY') expect(value).toBe('keel_sk_…');
      else expect(CLAUDE_RECIPE).toContain(`${name}: '${value}'`);
    }
  });

  it("Codex's config.toml is the recipe test's, and the test's other settings are named", () => {
    const documented = blocks('toml')[0]!
      .split('\n')
      .filter((line) => line.trim() !== '');
    const tested = codexRecipeLines();
    for (const line of documented) expect(tested.map((entry) => entry.line)).toContain(line);
    for (const { line, recipe } of tested) {
      if (recipe) expect(documented).toContain(line);
      // A setting only the test uses is still named on the page, with why.
      else if (!documented.includes(line))
        expect(DOC).toContain(line.startsWith('[') ? line : line.split(' =')[0]);
    }
    const command = blocks('sh').find((text) => text.includes('codex exec'));
    expect(command).toMatch(/^KEEL_KEY=keel_sk_… codex exec --model fast /m);
    expect(CODEX_RECIPE).toContain("'exec', '--skip-git-repo-check', '--model', 'fast'");
  });

  it('its Responses deployment is a deployment the gateway builds on the Responses API', async () => {
    const snippet = blocks('ts').find((text) => text.includes("api: 'responses'"));
    expect(snippet, "a ts block with api: 'responses'").toBeDefined();
    const upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'from Responses' }) });
    try {
      const parsed = deploymentSchema.parse(
        new Function(`return (${snippet!.trim().replace(/,$/, '')});`)() as unknown,
      );
      const models = createDeploymentModels({
        deployment: { ...parsed, baseURL: upstream.url },
        timeouts: timeoutsSchema.parse({}),
        env: { OPENAI_API_KEY: 'sk-fake' },
        clock: systemClock,
      });
      try {
        const answer = await models.languageModel.generate({ messages: [{ role: 'user', content: 'Hi' }] });
        expect(answer.message.content).toBe('from Responses');
        expect(upstream.requests.map((request) => request.path)).toEqual(['/v1/responses']);
      } finally {
        await models.close();
      }
    } finally {
      await upstream.close();
    }
  });

  describe('its config, with both upstreams faked', () => {
    let anthropic: FakeAnthropicServer;
    let openai: FakeOpenAIServer;
    let dir: string;
    beforeAll(async () => {
      // Anthropic is down; OpenAI answers (with its usage, so the call is priced).
      anthropic = await createFakeAnthropicServer({
        handler: () => ({ kind: 'error', status: 529 }),
      });
      openai = await createFakeOpenAIServer({
        handler: () => ({ content: 'Read it: pelican.', usage: { promptTokens: 40, completionTokens: 6 } }),
      });
      dir = mkdtempSync(join(tmpdir(), 'keel-coding-agents-'));
    });
    afterAll(async () => {
      await anthropic?.close();
      await openai?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("loads; a Claude Code call fails over to OpenAI and is charged to the developer's budget", async () => {
      writeFileSync(join(dir, 'keel.config.ts'), blocks('ts')[0]!);
      const config = await loadConfig({ cwd: dir, env: {} });
      expect(config.budgets).toEqual([
        expect.objectContaining({ scope: 'user', scopeId: 'ada', period: 'month', tenantId: 'acme' }),
      ]);
      const gateway = config.gateway as GatewayConfigInput & {
        deployments: { name: string; baseURL?: string }[];
      };
      const upstreams: Record<string, string> = { anthropic: anthropic.url, openai: openai.url };
      const deployments = gateway.deployments.map((deployment) => ({
        ...deployment,
        baseURL: upstreams[deployment.name]!,
      }));
      const { store, client } = await openStore({ dataDir: 'memory://' });
      const budgets = await openBudgets({ client, logger: silentLogger, declared: config.budgets ?? [] });
      const service = createGatewayService({
        config: { ...gateway, deployments, retry: { attemptsPerDeployment: 1 } } as GatewayConfigInput,
        client,
        budgets,
        env: { ANTHROPIC_API_KEY: 'sk-ant-fake', OPENAI_API_KEY: 'sk-fake' },
      });
      const server = createServer((request, response) => {
        if (!service.handler(request, response)) response.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const { key } = await createApiKeys({ client }).create({ tenantId: 'acme', scopes: ['gateway'] });
        const variables = claudeVariables();
        const [headerName, headerValue] = variables.get('ANTHROPIC_CUSTOM_HEADERS')!.split(/:\s*/);
        const session = '5d1c8f0e-7a2b-4c3d-9e8f-0a1b2c3d4e5f';
        // As Claude Code sends it: x-api-key, its session header, its ids in metadata.user_id.
        const response = await fetch(`${url}/v1/messages`, {
          method: 'POST',
          headers: {
            'x-api-key': key,
            'content-type': 'application/json',
            'anthropic-version': '2023-06-01',
            'x-claude-code-session-id': session,
            [headerName!]: headerValue!,
          },
          body: JSON.stringify({
            model: variables.get('ANTHROPIC_MODEL'),
            max_tokens: 64,
            stream: true,
            messages: [{ role: 'user', content: 'What is the word in secret.txt?' }],
            metadata: {
              user_id: JSON.stringify({ device_id: 'f'.repeat(64), account_uuid: '', session_id: session }),
            },
          }),
        });
        expect(response.status).toBe(200);
        expect(response.headers.get('x-keel-deployment')).toBe('openai');
        // The answer streamed back in Anthropic's events, from OpenAI's.
        const deltas = [...(await response.text()).matchAll(/"text_delta","text":("(?:[^"\\]|\\.)*")/g)];
        expect(deltas.map((match) => JSON.parse(match[1]!) as string).join('')).toBe('Read it: pelican.');
        expect(anthropic.requests).toHaveLength(1);
        expect(openai.requests).toHaveLength(1);

        await service.gateway.close();
        const { rows } = await client.query<{ user_id: string; session_id: string; deployment: string }>(
          'SELECT user_id, session_id, deployment FROM keel.gateway_calls',
        );
        expect(rows).toEqual([{ user_id: 'ada', session_id: session, deployment: 'openai' }]);
        const [budget] = await budgets.list('acme');
        let usage = budget!.usage;
        for (let tries = 0; usage.reservedUsd > 0 && tries < 200; tries++) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          usage = (await budgets.get('acme', budget!.id))!.usage;
        }
        expect(usage.spentTokens).toBe(46);
        expect(usage.spentUsd).toBeGreaterThan(0);
      } finally {
        await new Promise((resolve) => server.close(resolve));
        await service.close();
        await store.close();
      }
    });
  });
});
