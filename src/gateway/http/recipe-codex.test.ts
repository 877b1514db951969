/**
 * The docs/gateway.md recipe for the Codex CLI: the real `@openai/codex` (pinned in
 * devDependencies) run non-interactively (`codex exec`), pointed at the gateway's `/v1/responses`
 * by a `[model_providers.keel]` in a fresh `CODEX_HOME/config.toml` (Codex ignores
 * `OPENAI_BASE_URL`). Two ways, each to the OpenAI-wire (chat completions) fake:
 *
 * - **Classic function tools** (`web_search = "disabled"` and feature switches, the route `fast`
 *   as its model): the fake asks for the command tool Codex offers (found in the request's
 *   `tools`, not assumed) to run `cat secret.txt` in a fresh directory, then answers.
 * - **Its default mode** (no switch that changes its tool set, its own default model, served by
 *   the route `gpt-*`): Codex sends its tools as `namespace` tools in an `additional_tools` item,
 *   among them the `custom` tool `exec` (JavaScript with a Lark grammar, which calls Codex's
 *   nested tools), and declares `web_search`. The fake calls `functions__exec` (the flattened
 *   custom tool) to run `cat secret.txt`, then again to `apply_patch` a new file, then answers.
 *
 * Each time Codex really runs the tools, their output reaches the upstream in the tool message,
 * and the final text comes back on stdout; in the default mode the patched file is on disk.
 *
 * The gateway is a real `keel gateway` process (bin/keel.js, the build in dist/) started as a user
 * starts it: a config file whose `gateway` section points its deployments at the fakes, a fresh
 * Postgres database, a key made by `keel keys create --scopes gateway`; the calls it records are
 * read from that database's `gateway_calls`. The fakes run in the test process.
 *
 * Everything stays on loopback: Codex's analytics, feedback and update checks are switched off
 * in its config, and `HTTPS_PROXY`/`HTTP_PROXY` point at a local canary that refuses and records
 * any request bound elsewhere; the test asserts it saw none. The package is required, not
 * optional: without it the test fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FakeOpenAIReply, FakeOpenAIRequest } from '../../testing/fake-openai-server.js';
import { describePostgres } from '../../testing/postgres.js';
import { runLauncher, startEgressCanary, type EgressCanary } from './__fixtures__/coding-cli.js';
import { startRecipeGatewayProcess, type RecipeGatewayProcess } from './__fixtures__/recipe-gateway.js';

/** The version the recipe is tested with (docs/gateway.md names it); package.json pins it. */
const CODEX_VERSION = '0.171.0';

let keel: RecipeGatewayProcess;
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

/** Codex's custom tool `exec` in its namespace `functions`, as the gateway flattens it. */
const CODE_MODE_TOOL = 'functions__exec';

/** The patch the default-mode script applies: a new file holding the word. */
const answerPatch = () => `*** Begin Patch\n*** Add File: answer.txt\n+the word was ${word}\n*** End Patch\n`;

/**
 * The default-mode script, through the `exec` custom tool (its input is JavaScript that calls
 * Codex's nested tools): first `cat secret.txt`, then `apply_patch` creating answer.txt, then the
 * final text.
 */
function codeModeStep(body: ChatBody): FakeOpenAIReply {
  const results = body.messages.filter((message) => message.role === 'tool').length;
  const exec = (input: string): FakeOpenAIReply => ({
    toolCalls: [{ name: CODE_MODE_TOOL, arguments: { input } }],
  });
  if (results === 0)
    return exec("const result = await tools.exec_command({ cmd: 'cat secret.txt' });\ntext(result.output);");
  if (results === 1)
    return exec(`await tools.apply_patch(${JSON.stringify(answerPatch())});\ntext('patched');`);
  return { content: `The word in secret.txt is ${word}; answer.txt has it.` };
}

/** A Responses request as the `responses` route's upstream receives it. */
interface ResponsesBody {
  tools?: { type: string; name?: string; parameters?: { properties?: Record<string, { type?: string }> } }[];
  input: { type?: string; role?: string; call_id?: string; output?: unknown; encrypted_content?: string }[];
  include?: string[];
}

/** The encrypted reasoning the Responses upstream answers with, to be handed back by Codex. */
const reasoningOf = () => `gAAAAB-opaque-${word}`;

/**
 * The Responses upstream's script, for Codex on the `responses` route: a reasoning item and a
 * call of Codex's command tool (whichever the request offers: its `exec` custom tool, flattened,
 * or a command function) on `cat secret.txt`; once its output came back, the final text.
 */
function responsesStep(body: ResponsesBody): FakeOpenAIReply {
  if (body.input.some((item) => item.type === 'function_call_output'))
    return { content: `The word in secret.txt is ${word}.` };
  const tools = body.tools ?? [];
  const tool =
    tools.find((candidate) => candidate.name === CODE_MODE_TOOL) ??
    tools.find((candidate) => COMMAND_TOOLS.includes(candidate.name ?? ''));
  if (tool?.name === undefined)
    return { content: `no command tool offered: ${tools.map((t) => t.name ?? t.type).join(', ')}` };
  const properties = tool.parameters?.properties ?? {};
  const key = 'cmd' in properties ? 'cmd' : 'command';
  const args =
    tool.name === CODE_MODE_TOOL
      ? { input: "const result = await tools.exec_command({ cmd: 'cat secret.txt' });\ntext(result.output);" }
      : { [key]: properties[key]?.type === 'array' ? ['cat', 'secret.txt'] : 'cat secret.txt' };
  return {
    reasoning: [{ id: 'rs_codex_1', encryptedContent: reasoningOf() }],
    toolCalls: [{ name: tool.name, arguments: args }],
  };
}

/**
 * The upstream's script: on the Responses API, {@link responsesStep}; in Codex's default mode,
 * {@link codeModeStep}; otherwise, while no tool
 * result has come back, call Codex's command tool on `cat secret.txt` (in the argument shape its
 * schema declares); afterwards, the final text.
 */
function upstreamHandler(request: FakeOpenAIRequest): FakeOpenAIReply {
  if (request.path.startsWith('/v1/responses')) return responsesStep(request.body as ResponsesBody);
  const body = request.body as ChatBody;
  if ((body.tools ?? []).some((tool) => tool.function?.name === CODE_MODE_TOOL)) return codeModeStep(body);
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
 * `CODEX_HOME/config.toml`: the recipe's provider table, plus what the test switches off
 * (top-level keys first, as TOML requires): update checks, plugin sync, analytics and feedback
 * always; for the classic mode also web search and the features that change its tool set.
 */
function codexConfig(gatewayUrl: string, mode: 'classic' | 'default' | 'responses'): string {
  const classic = mode === 'classic';
  return [
    'model_provider = "keel"', // the recipe
    ...(classic ? ['web_search = "disabled"', 'model_reasoning_summary = "none"'] : []),
    // The route's model name is no OpenAI model Codex knows: say it reasons, as gpt-5 does.
    ...(mode === 'responses' ? ['model_supports_reasoning_summaries = true', 'web_search = "live"'] : []),
    'check_for_update_on_startup = false',
    '[model_providers.keel]', // the recipe
    'name = "Keel"',
    `base_url = "${gatewayUrl}/v1"`,
    'env_key = "KEEL_KEY"',
    'wire_api = "responses"',
    'http_headers = { "x-keel-user" = "bo" }', // the recipe: the developer, for their budget
    'supports_websockets = false',
    '[features]',
    ...(classic ? ['multi_agent = false', 'goals = false', 'apps = false'] : []),
    'plugins = false',
    'remote_plugin = false',
    '[analytics]',
    'enabled = false',
    '[feedback]',
    'enabled = false',
    '',
  ].join('\n');
}

/** The environment Codex runs in: the recipe's, and the test's guard against egress. */
function codexEnv(home: string, codexHome: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    // The recipe:
    CODEX_HOME: codexHome,
    KEEL_KEY: keel.key,
    // The test's guard: anything bound elsewhere goes to the canary.
    HTTPS_PROXY: canary.url,
    HTTP_PROXY: canary.url,
    NO_PROXY: '127.0.0.1,localhost',
  };
}

describePostgres('the Codex recipe: Codex through a `keel gateway` process', (connectionString) => {
  beforeAll(async () => {
    // A proxy that lets nothing through: any request or CONNECT reaching it would have left the machine.
    canary = await startEgressCanary();
    keel = await startRecipeGatewayProcess(connectionString, {
      directory: tempDir('keel-codex-gateway-'),
      openAIHandler: upstreamHandler,
    });
  });

  afterAll(async () => {
    await keel?.close();
    await canary?.close();
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  });

  it(`Codex ${CODEX_VERSION} completes a tool round trip through the gateway`, async () => {
    const home = tempDir('keel-codex-home-');
    const codexHome = tempDir('keel-codex-config-');
    const work = tempDir('keel-codex-work-');
    word = `pelican-${randomBytes(4).toString('hex')}`;
    writeFileSync(join(work, 'secret.txt'), `the word is ${word}\n`);
    writeFileSync(join(codexHome, 'config.toml'), codexConfig(keel.url, 'classic'));
    keel.upstream.requests.length = 0;
    const since = new Date();

    const prompt = 'Run `cat secret.txt` and tell me the word in it.';
    const result = await runCodex(['exec', '--skip-git-repo-check', '--model', 'fast', prompt], {
      cwd: work,
      env: codexEnv(home, codexHome),
    });

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
    const calls = await keel.recordedCalls({ since, count: 2 });
    expect(calls.map((call) => [call.endpoint, call.userId])).toEqual([
      ['responses', 'bo'],
      ['responses', 'bo'],
    ]);
    expect(calls[0]?.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(calls[1]?.sessionId).toBe(calls[0]?.sessionId);
    expect(canary.outside).toEqual([]);
  }, 120_000);

  it(`Codex ${CODEX_VERSION} in its default mode completes custom-tool round trips through the gateway`, async () => {
    const home = tempDir('keel-codex-home-');
    const codexHome = tempDir('keel-codex-config-');
    const work = tempDir('keel-codex-work-');
    word = `heron-${randomBytes(4).toString('hex')}`;
    writeFileSync(join(work, 'secret.txt'), `the word is ${word}\n`);
    writeFileSync(join(codexHome, 'config.toml'), codexConfig(keel.url, 'default'));
    keel.upstream.requests.length = 0;
    const since = new Date();

    // No --model: Codex's own default model, which the route `gpt-*` serves. The sandbox lets the
    // patch write in the working directory (exec's default sandbox is read-only).
    const result = await runCodex(
      [
        'exec',
        '--skip-git-repo-check',
        '--sandbox',
        'workspace-write',
        'Read secret.txt, then write the word into answer.txt.',
      ],
      { cwd: work, env: codexEnv(home, codexHome) },
    );

    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout.trim()).toBe(`The word in secret.txt is ${word}; answer.txt has it.`);
    const requests = keel.upstream.requests.map((request) => request.body as ChatBody & { model: string });
    expect(requests).toHaveLength(3);
    // Its default tools: the custom tool exec among namespace tools, flattened; web_search dropped.
    const names = (requests[0]?.tools ?? []).map((tool) => tool.function?.name);
    expect(names).toContain(CODE_MODE_TOOL);
    expect(names.some((name) => name?.startsWith('collaboration__'))).toBe(true);
    expect(names.every((name) => name !== undefined && /^[a-zA-Z0-9_-]{1,64}$/.test(name))).toBe(true);
    // The tools really ran: the file's content reached the upstream, then the patch's result.
    const toolResults = requests[2]?.messages.filter((message) => message.role === 'tool') ?? [];
    expect(toolResults).toHaveLength(2);
    expect(JSON.stringify(toolResults[0]?.content)).toContain(word);
    expect(JSON.stringify(toolResults[1]?.content)).toContain('patched');
    expect(readFileSync(join(work, 'answer.txt'), 'utf8')).toBe(`the word was ${word}\n`);
    // The three calls recorded, attributed to the developer and to Codex's session.
    const calls = await keel.recordedCalls({ since, count: 3 });
    expect(calls.map((call) => [call.endpoint, call.userId])).toEqual([
      ['responses', 'bo'],
      ['responses', 'bo'],
      ['responses', 'bo'],
    ]);
    expect(calls[0]?.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(calls.map((call) => call.sessionId)).toEqual(Array(3).fill(calls[0]?.sessionId));
    expect(canary.outside).toEqual([]);
  }, 150_000);

  it(`Codex ${CODEX_VERSION} on a Responses deployment: web_search passed, OpenAI's reasoning handed back`, async () => {
    const home = tempDir('keel-codex-home-');
    const codexHome = tempDir('keel-codex-config-');
    const work = tempDir('keel-codex-work-');
    word = `ibis-${randomBytes(4).toString('hex')}`;
    writeFileSync(join(work, 'secret.txt'), `the word is ${word}\n`);
    writeFileSync(join(codexHome, 'config.toml'), codexConfig(keel.url, 'responses'));
    keel.upstream.requests.length = 0;

    const result = await runCodex(
      ['exec', '--skip-git-repo-check', '--model', 'responses', 'Read secret.txt and tell me the word.'],
      { cwd: work, env: codexEnv(home, codexHome) },
    );

    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout.trim()).toBe(`The word in secret.txt is ${word}.`);
    const requests = keel.upstream.requests;
    expect(requests.map((request) => request.path)).toEqual(['/v1/responses', '/v1/responses']);
    const [first, second] = requests.map((request) => request.body as ResponsesBody);
    // The hosted tool reached OpenAI's API as Codex declared it, beside the flattened tools.
    expect(first?.tools?.some((tool) => tool.type === 'web_search')).toBe(true);
    expect(first?.include).toEqual(['reasoning.encrypted_content']);
    // Codex handed the reasoning item back, and it reached the upstream verbatim, before the call.
    const types = (second?.input ?? []).map((item) => item.type ?? 'message');
    const reasoningAt = types.indexOf('reasoning');
    expect(reasoningAt).toBeGreaterThan(-1);
    expect(second?.input[reasoningAt]?.encrypted_content).toBe(reasoningOf());
    expect(types[reasoningAt + 1]).toBe('function_call');
    // The tool really ran: the file's content reached the upstream as the call's output.
    const output = second?.input.find((item) => item.type === 'function_call_output');
    expect(JSON.stringify(output?.output)).toContain(word);
    expect(canary.outside).toEqual([]);
  }, 120_000);
});
