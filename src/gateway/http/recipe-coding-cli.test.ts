/**
 * The docs/gateway.md recipe "A coding CLI": the real Claude Code (`@anthropic-ai/claude-code`,
 * pinned in devDependencies) run non-interactively (`claude -p`), pointed at the gateway by
 * `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`, with the route as its model. The fake behind the
 * route (Anthropic's wire, or chat completions for an OpenAI-compatible upstream) first asks for
 * the CLI's `Read` tool on a file in a fresh directory, then answers: the CLI really reads the
 * file, its content reaches the upstream as the tool's result, and the final text comes back on
 * the CLI's stdout.
 *
 * The gateway is a real `keel gateway` process (bin/keel.js, the build in dist/) started as a user
 * starts it: a config file whose `gateway` section points its deployments at the fakes, a fresh
 * Postgres database, a key made by `keel keys create --scopes gateway`; the calls it records are
 * read from that database's `gateway_calls`. The fakes run in the test process.
 *
 * Everything stays on loopback: the CLI's non-essential traffic (telemetry, error reports, update
 * checks) is switched off by its documented variable, and `HTTPS_PROXY`/`HTTP_PROXY` point at a
 * local canary that refuses and records any request bound elsewhere; the test asserts it saw none.
 * The package is required, not optional: without it the test fails.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describePostgres } from '../../testing/postgres.js';
import { runLauncher, startEgressCanary, type EgressCanary } from './__fixtures__/coding-cli.js';
import { startRecipeGatewayProcess, type RecipeGatewayProcess } from './__fixtures__/recipe-gateway.js';

/** The version the recipe is tested with (docs/gateway.md names it); package.json pins it. */
const CLAUDE_CODE_VERSION = '2.1.332';

let keel: RecipeGatewayProcess;
let canary: EgressCanary;
const temps: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** The package's own launcher (the one `--ignore-scripts` installs leave working). */
function claudeLauncher(): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('@anthropic-ai/claude-code/package.json');
  expect((require(manifest) as { version: string }).version).toBe(CLAUDE_CODE_VERSION);
  return join(dirname(manifest), 'cli-wrapper.cjs');
}

function runClaude(args: string[], options: { cwd: string; env: Record<string, string> }) {
  return runLauncher(claudeLauncher(), args, { ...options, timeoutMs: 90_000 });
}

/** A gateway route and the fake behind it, scripted and read in its own wire. */
interface ClaudeUpstream {
  /** The route Claude Code is given as its model. */
  route: string;
  /** Scripts the upstream: first a `Read` of `file` (after `thinking`, when given), then `text`. */
  script(file: string, text: string, thinking?: string): void;
  /** The requests (bodies and headers) the upstream has received so far. */
  requests(): { body: unknown; headers: Record<string, string | string[] | undefined> }[];
  /** What the tool's result looks like in the upstream's wire, carrying `word`. */
  toolResult(word: string): unknown;
}

/** The Anthropic fake behind route `claude`. */
const anthropicUpstream: ClaudeUpstream = {
  route: 'claude',
  script(file, text, thinking) {
    keel.claudeUpstream.enqueue({
      ...(thinking === undefined ? {} : { thinking }),
      toolUses: [{ name: 'Read', input: { file_path: file } }],
    });
    keel.claudeUpstream.enqueue({ text });
  },
  requests: () => keel.claudeUpstream.requests,
  toolResult: (word) => ({
    role: 'user',
    content: expect.arrayContaining([
      expect.objectContaining({ type: 'tool_result', content: expect.stringContaining(word) as unknown }),
    ]) as unknown,
  }),
};

/** The OpenAI-compatible (chat completions) fake behind route `fast`. */
const openAIUpstream: ClaudeUpstream = {
  route: 'fast',
  script(file, text) {
    keel.upstream.enqueue({ content: null, toolCalls: [{ name: 'Read', arguments: { file_path: file } }] });
    keel.upstream.enqueue({ content: text });
  },
  requests: () => keel.upstream.requests.filter((request) => request.path.endsWith('/chat/completions')),
  toolResult: (word) => ({ role: 'tool', content: expect.stringContaining(word) as unknown }),
};

/** The recipe's environment, with the route as the model, a fresh home and the canary as proxy. */
function recipeEnv({ home, route, env = {} }: { home: string; route: string; env?: Record<string, string> }) {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    // The recipe:
    ANTHROPIC_BASE_URL: keel.url,
    ANTHROPIC_API_KEY: keel.key,
    ANTHROPIC_MODEL: 'claude',
    ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    ...env,
    // Another route than the recipe's: the same variables name it.
    ...(route === 'claude' ? {} : { ANTHROPIC_MODEL: route, ANTHROPIC_DEFAULT_HAIKU_MODEL: route }),
    // The test's guard: anything bound elsewhere goes to the canary.
    HTTPS_PROXY: canary.url,
    HTTP_PROXY: canary.url,
    NO_PROXY: '127.0.0.1,localhost',
  };
}

/**
 * Has Claude Code read a fresh secret file through the gateway: the upstream first asks for a
 * `Read` of the file (after `thinking`, when given), then answers the final text. Returns the
 * upstream requests this run made.
 */
async function readSecretWithClaude({
  args,
  env = {},
  thinking,
  upstream = anthropicUpstream,
}: {
  args: string[];
  env?: Record<string, string>;
  thinking?: string;
  upstream?: ClaudeUpstream;
}) {
  const home = tempDir('keel-claude-home-');
  const work = tempDir('keel-claude-work-');
  const word = `pelican-${randomBytes(4).toString('hex')}`;
  const secret = join(work, 'secret.txt');
  writeFileSync(secret, `the word is ${word}\n`);
  const before = upstream.requests().length;
  upstream.script(secret, `The word in secret.txt is ${word}.`, thinking);
  const result = await runClaude(
    ['-p', 'What is the word in secret.txt?', ...args, '--allowedTools', 'Read'],
    {
      cwd: work,
      env: recipeEnv({ home, route: upstream.route, env }),
    },
  );
  expect(result, result.stderr).toMatchObject({ code: 0 });
  expect(result.stdout.trim()).toBe(`The word in secret.txt is ${word}.`);
  const requests = upstream.requests().slice(before);
  expect(requests).toHaveLength(2);
  // The tool really ran: the file's content (only on disk) reached the upstream as the tool's result.
  const last = (requests[1]?.body as { messages: unknown[] }).messages.at(-1);
  expect(last).toMatchObject(upstream.toolResult(word) as Record<string, unknown>);
  expect(canary.outside).toEqual([]);
  return requests;
}

/** A 1×1 PNG. */
const PIXEL_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

describePostgres(
  'the coding-CLI recipe: Claude Code through a `keel gateway` process',
  (connectionString) => {
    beforeAll(async () => {
      // A proxy that lets nothing through: any request or CONNECT reaching it would have left the machine.
      canary = await startEgressCanary();
      keel = await startRecipeGatewayProcess(connectionString, {
        directory: tempDir('keel-claude-gateway-'),
      });
    });

    afterAll(async () => {
      await keel?.close();
      await canary?.close();
      for (const dir of temps) rmSync(dir, { recursive: true, force: true });
    });

    it(`Claude Code ${CLAUDE_CODE_VERSION} completes a tool round trip through the gateway (--bare, no thinking, no effort)`, async () => {
      const session = randomUUID();
      const since = new Date();
      await readSecretWithClaude({
        args: ['--bare', '--session-id', session],
        // The developer named by the recipe's header (docs/coding-agents.md), for their budget.
        env: {
          MAX_THINKING_TOKENS: '0',
          CLAUDE_CODE_EFFORT_LEVEL: 'auto',
          ANTHROPIC_CUSTOM_HEADERS: 'x-keel-user: ada',
        },
      });
      // Both calls recorded, attributed to the developer and to this Claude Code session.
      expect(await keel.recordedCalls({ since, count: 2 })).toEqual([
        { endpoint: 'messages', userId: 'ada', sessionId: session },
        { endpoint: 'messages', userId: 'ada', sessionId: session },
      ]);
    }, 120_000);

    it(`Claude Code ${CLAUDE_CODE_VERSION} in its default mode (adaptive thinking, effort, betas) completes a tool round trip`, async () => {
      const session = randomUUID();
      const since = new Date();
      const requests = await readSecretWithClaude({
        args: ['--session-id', session],
        thinking: 'I should read the file.',
      });
      // Without x-keel-user, its own ids attribute the calls: the device in metadata.user_id (the
      // same on both calls) and the session it was given.
      const calls = await keel.recordedCalls({ since, count: 2 });
      expect(calls.map((call) => call.endpoint)).toEqual(['messages', 'messages']);
      expect(calls.map((call) => call.sessionId)).toEqual([session, session]);
      expect(calls[0]?.userId).toMatch(/^[0-9a-f]{64}$/);
      expect(calls[1]?.userId).toBe(calls[0]?.userId);
      // What its default mode sends, without --bare and the two variables of the first recipe.
      expect(requests[0]?.body).toMatchObject({ thinking: { type: 'adaptive' }, output_config: {} });
      // Its betas reach the upstream (this version puts no system message mid-conversation here).
      expect(requests[0]?.headers['anthropic-beta']).toMatch(/interleaved-thinking-2025-05-14/);
      // Its thinking went back first, signature intact (the fake refuses it otherwise).
      const messages = (requests[1]?.body as { messages: { role: string; content: { type: string }[] }[] })
        .messages;
      const turn = messages.findLast((message) => message.role === 'assistant');
      expect(turn?.content[0]).toMatchObject({ type: 'thinking', thinking: 'I should read the file.' });
    }, 120_000);

    it(`Claude Code ${CLAUDE_CODE_VERSION} in its default mode completes a tool round trip through the gateway to an OpenAI-compatible upstream`, async () => {
      const since = new Date();
      const requests = await readSecretWithClaude({ args: [], upstream: openAIUpstream });
      const calls = await keel.recordedCalls({ since, count: 2 });
      expect(calls.map((call) => call.endpoint)).toEqual(['messages', 'messages']);
      const [first, second] = requests.map(
        (request) => request.body as Record<string, unknown> & { messages: Record<string, unknown>[] },
      );
      // Chat completions, nothing of Anthropic's own: its system prompt leads as a system message,
      // its effort is the reasoning effort, its thinking, betas and cache marks are gone (docs/gateway.md).
      expect(first?.messages[0]).toMatchObject({ role: 'system', content: expect.any(String) as unknown });
      for (const body of [first, second]) {
        expect(body).not.toHaveProperty('thinking');
        expect(body).not.toHaveProperty('output_config');
        expect(body).not.toHaveProperty('context_management');
        expect(body).not.toHaveProperty('metadata');
        expect(JSON.stringify(body)).not.toContain('cache_control');
      }
      for (const request of requests) expect(request.headers).not.toHaveProperty('anthropic-beta');
      // The tool call went back as the assistant's tool_calls, answered by the tool message.
      const call = second?.messages.findLast((message) => message.role === 'assistant');
      expect(call).toMatchObject({ tool_calls: [{ type: 'function', function: { name: 'Read' } }] });
      const id = (call?.tool_calls as { id: string }[])[0]?.id;
      expect(second?.messages.at(-1)).toMatchObject({ role: 'tool', tool_call_id: id });
    }, 120_000);

    it(`Claude Code ${CLAUDE_CODE_VERSION} reads a PNG through the gateway: the image reaches an OpenAI-compatible upstream after the tool message`, async () => {
      const home = tempDir('keel-claude-home-');
      const work = tempDir('keel-claude-work-');
      const png = join(work, 'pixel.png');
      writeFileSync(png, Buffer.from(PIXEL_PNG, 'base64'));
      const before = openAIUpstream.requests().length;
      openAIUpstream.script(png, 'A single pixel.');
      const result = await runClaude(['-p', 'What is in pixel.png?', '--allowedTools', 'Read'], {
        cwd: work,
        env: recipeEnv({ home, route: openAIUpstream.route }),
      });
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(result.stdout.trim()).toBe('A single pixel.');
      const requests = openAIUpstream.requests().slice(before);
      expect(requests).toHaveLength(2);
      // Its Read answers with an image block in the tool_result: the tool message takes text alone on
      // this wire, so the image follows it in a user message (the fake refuses it anywhere else).
      const messages = (requests[1]?.body as { messages: { role: string; content: unknown }[] }).messages;
      const tool = messages.findLastIndex((message) => message.role === 'tool');
      expect(messages[tool + 1]).toMatchObject({
        role: 'user',
        content: expect.arrayContaining([
          expect.objectContaining({
            type: 'image_url',
            image_url: { url: expect.stringMatching(/^data:image\/png;base64,/) as unknown },
          }),
        ]) as unknown,
      });
      expect(canary.outside).toEqual([]);
    }, 120_000);
  },
);
