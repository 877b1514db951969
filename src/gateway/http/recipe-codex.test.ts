/**
 * The docs/gateway.md recipe for the Codex CLI: the real `@openai/codex` (pinned in
 * devDependencies) run non-interactively (`codex exec`), pointed at the gateway's `/v1/responses`
 * by a `[model_providers.keel]` in a fresh `CODEX_HOME/config.toml` (Codex ignores
 * `OPENAI_BASE_URL`), with the route as its model. The OpenAI-wire fake behind the route first
 * asks for the command tool Codex offers (found in the request's `tools`, not assumed) to run
 * `cat secret.txt` in a fresh directory, then answers: Codex really runs the command, the file's
 * content reaches the upstream in the tool message, and the final text comes back on stdout.
 *
 * Everything stays on loopback: Codex's analytics, feedback and update checks are switched off
 * in its config, and `HTTPS_PROXY`/`HTTP_PROXY` point at a local canary that refuses and records
 * any request bound elsewhere; the test asserts it saw none. The package is required, not
 * optional: without it the test fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLauncher, startEgressCanary, type EgressCanary } from './__fixtures__/coding-cli.js';
import type { FakeOpenAIReply, FakeOpenAIRequest } from '../../testing/fake-openai-server.js';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

/** The version the recipe is tested with (docs/gateway.md names it); package.json pins it. */
const CODEX_VERSION = '0.171.0';

let keel: RecipeGateway;
let canary: EgressCanary;
const temps: string[] = [];
let word = '';

interface ChatTool {
  type: string;
  function?: { name: string; parameters?: { properties?: Record<string, { type?: string }> } };
}
interface ChatBody {
  tools?: ChatTool[];
  messages: { role: string; content?: unknown; tool_call_id?: string }[];
}

/** The names Codex has used for its command tool; the test takes whichever the request offers. */
const COMMAND_TOOLS = ['exec_command', 'shell_command', 'shell'];

/**
 * The upstream's script: while no tool result has come back, call Codex's command tool on
 * `cat secret.txt` (in the argument shape its schema declares); afterwards, the final text.
 */
function upstreamHandler(request: FakeOpenAIRequest): FakeOpenAIReply {
  const body = request.body as ChatBody;
  if (body.messages.some((message) => message.role === 'tool')) {
    return { content: `The word in secret.txt is ${word}.` };
  }
  const tool = (body.tools ?? []).find((candidate) => COMMAND_TOOLS.includes(candidate.function?.name ?? ''));
  if (tool?.function === undefined) {
    return {
      content: `no command tool offered: ${(body.tools ?? []).map((t) => t.function?.name).join(', ')}`,
    };
  }
  const properties = tool.function.parameters?.properties ?? {};
  const key = 'cmd' in properties ? 'cmd' : 'command';
  const command = properties[key]?.type === 'array' ? ['cat', 'secret.txt'] : 'cat secret.txt';
  return { toolCalls: [{ name: tool.function.name, arguments: { [key]: command } }] };
}

beforeAll(async () => {
  keel = await startRecipeGateway({ openAIHandler: upstreamHandler });
  // A proxy that lets nothing through: any request or CONNECT reaching it would have left the machine.
  canary = await startEgressCanary();
});

afterAll(async () => {
  await keel?.close();
  await canary?.close();
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** The package's own launcher, which starts the platform binary it depends on. */
function codexLauncher(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('@openai/codex/package.json');
  expect((require(manifest) as { version: string }).version).toBe(CODEX_VERSION);
  return join(dirname(manifest), 'bin', 'codex.js');
}

function runCodex(args: string[], options: { cwd: string; env: Record<string, string> }) {
  return runLauncher(codexLauncher(), args, { ...options, timeoutMs: 100_000 });
}

/**
 * `CODEX_HOME/config.toml`: the recipe's provider table, plus the extras the test switches off
 * (top-level keys first, as TOML requires).
 */
function codexConfig(gatewayUrl: string): string {
  return [
    'model_provider = "keel"', // the recipe
    'web_search = "disabled"',
    'model_reasoning_summary = "none"',
    'check_for_update_on_startup = false',
    '[model_providers.keel]', // the recipe
    'name = "Keel"',
    `base_url = "${gatewayUrl}/v1"`,
    'env_key = "KEEL_KEY"',
    'wire_api = "responses"',
    'http_headers = { "x-keel-user" = "bo" }', // the recipe: the developer, for their budget
    'supports_websockets = false',
    '[features]',
    'multi_agent = false',
    'goals = false',
    'plugins = false',
    'remote_plugin = false',
    'apps = false',
    '[analytics]',
    'enabled = false',
    '[feedback]',
    'enabled = false',
    '',
  ].join('\n');
}

it(`Codex ${CODEX_VERSION} completes a tool round trip through the gateway`, async () => {
  const home = tempDir('keel-codex-home-');
  const codexHome = tempDir('keel-codex-config-');
  const work = tempDir('keel-codex-work-');
  word = `pelican-${randomBytes(4).toString('hex')}`;
  writeFileSync(join(work, 'secret.txt'), `the word is ${word}\n`);
  writeFileSync(join(codexHome, 'config.toml'), codexConfig(keel.url));

  const result = await runCodex(
    ['exec', '--skip-git-repo-check', '--model', 'fast', 'Run `cat secret.txt` and tell me the word in it.'],
    {
      cwd: work,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        // The recipe:
        CODEX_HOME: codexHome,
        KEEL_KEY: keel.key,
        // The test's guard: anything bound elsewhere goes to the canary.
        HTTPS_PROXY: canary.url,
        HTTP_PROXY: canary.url,
        NO_PROXY: '127.0.0.1,localhost',
      },
    },
  );

  expect(result, result.stderr).toMatchObject({ code: 0 });
  expect(result.stdout.trim()).toBe(`The word in secret.txt is ${word}.`);
  const requests = keel.upstream.requests.map((request) => request.body as ChatBody);
  expect(requests).toHaveLength(2);
  // The tool really ran: the file's content (only on disk) reached the upstream as the tool's result.
  const toolMessage = requests[1]?.messages.find((message) => message.role === 'tool');
  expect(toolMessage).toMatchObject({ role: 'tool', tool_call_id: 'call_1_0' });
  expect(JSON.stringify(toolMessage?.content)).toContain(word);
  // Both calls recorded, attributed to the developer the config names and to Codex's session
  // (its conversation id, the same on both calls).
  const calls = await keel.recordedCalls();
  expect(calls.map((call) => [call.endpoint, call.userId])).toEqual([
    ['responses', 'bo'],
    ['responses', 'bo'],
  ]);
  expect(calls[0]?.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(calls[1]?.sessionId).toBe(calls[0]?.sessionId);
  expect(canary.outside).toEqual([]);
}, 120_000);
