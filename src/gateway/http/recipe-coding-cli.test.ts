/**
 * The docs/gateway.md recipe "A coding CLI": the real Claude Code (`@anthropic-ai/claude-code`,
 * pinned in devDependencies) run non-interactively (`claude -p`), pointed at the gateway by
 * `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`, with the route as its model. The Anthropic fake
 * behind the route first asks for the CLI's `Read` tool on a file in a fresh directory, then
 * answers: the CLI really reads the file, its content reaches the upstream in a `tool_result`,
 * and the final text comes back on the CLI's stdout.
 *
 * Everything stays on loopback: the CLI's non-essential traffic (telemetry, error reports, update
 * checks) is switched off by its documented variable, and `HTTPS_PROXY`/`HTTP_PROXY` point at a
 * local canary that refuses and records any request bound elsewhere; the test asserts it saw none.
 * The package is required, not optional: without it the test fails.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLauncher, startEgressCanary, type EgressCanary } from './__fixtures__/coding-cli.js';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

/** The version the recipe is tested with (docs/gateway.md names it); package.json pins it. */
const CLAUDE_CODE_VERSION = '2.1.332';

let keel: RecipeGateway;
let canary: EgressCanary;
const temps: string[] = [];

beforeAll(async () => {
  keel = await startRecipeGateway();
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

it(`Claude Code ${CLAUDE_CODE_VERSION} completes a tool round trip through the gateway`, async () => {
  const home = tempDir('keel-claude-home-');
  const work = tempDir('keel-claude-work-');
  const word = `pelican-${randomBytes(4).toString('hex')}`;
  const secret = join(work, 'secret.txt');
  writeFileSync(secret, `the word is ${word}\n`);
  keel.claudeUpstream.enqueue({ toolUses: [{ name: 'Read', input: { file_path: secret } }] });
  keel.claudeUpstream.enqueue({ text: `The word in secret.txt is ${word}.` });

  const result = await runClaude(
    ['-p', 'What is the word in secret.txt?', '--bare', '--allowedTools', 'Read'],
    {
      cwd: work,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        // The recipe:
        ANTHROPIC_BASE_URL: keel.url,
        ANTHROPIC_API_KEY: keel.key,
        ANTHROPIC_MODEL: 'claude',
        ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude',
        MAX_THINKING_TOKENS: '0',
        CLAUDE_CODE_EFFORT_LEVEL: 'auto',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        // The test's guard: anything bound elsewhere goes to the canary.
        HTTPS_PROXY: canary.url,
        HTTP_PROXY: canary.url,
        NO_PROXY: '127.0.0.1,localhost',
      },
    },
  );

  expect(result, result.stderr).toMatchObject({ code: 0 });
  expect(result.stdout.trim()).toBe(`The word in secret.txt is ${word}.`);
  const requests = keel.claudeUpstream.requests.map((request) => request.body as { messages: unknown[] });
  expect(requests).toHaveLength(2);
  // The tool really ran: the file's content (only on disk) reached the upstream as the tool's result.
  expect(requests[1]?.messages.at(-1)).toMatchObject({
    role: 'user',
    content: [
      {
        type: 'tool_result',
        tool_use_id: 'toolu_fake_1_0',
        content: expect.stringContaining(word) as unknown,
      },
    ],
  });
  expect(await keel.recordedEndpoints()).toEqual(['messages', 'messages']);
  expect(canary.outside).toEqual([]);
}, 120_000);

it(`Claude Code ${CLAUDE_CODE_VERSION} in its default mode (adaptive thinking, effort, betas) completes a tool round trip`, async () => {
  const home = tempDir('keel-claude-home-');
  const work = tempDir('keel-claude-work-');
  const word = `heron-${randomBytes(4).toString('hex')}`;
  const secret = join(work, 'secret.txt');
  writeFileSync(secret, `the word is ${word}\n`);
  const before = keel.claudeUpstream.requests.length;
  keel.claudeUpstream.enqueue({
    thinking: 'I should read the file.',
    toolUses: [{ name: 'Read', input: { file_path: secret } }],
  });
  keel.claudeUpstream.enqueue({ text: `The word in secret.txt is ${word}.` });

  const result = await runClaude(['-p', 'What is the word in secret.txt?', '--allowedTools', 'Read'], {
    cwd: work,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      ANTHROPIC_BASE_URL: keel.url,
      ANTHROPIC_API_KEY: keel.key,
      ANTHROPIC_MODEL: 'claude',
      ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      HTTPS_PROXY: canary.url,
      HTTP_PROXY: canary.url,
      NO_PROXY: '127.0.0.1,localhost',
    },
  });

  expect(result, result.stderr).toMatchObject({ code: 0 });
  expect(result.stdout.trim()).toBe(`The word in secret.txt is ${word}.`);
  const requests = keel.claudeUpstream.requests
    .slice(before)
    .map((request) => request.body as { messages: { role: string; content: unknown }[] });
  expect(requests).toHaveLength(2);
  // What its default mode sends, without --bare and the two variables of the first recipe.
  const first = keel.claudeUpstream.requests[before]!;
  expect(first.body).toMatchObject({ thinking: { type: 'adaptive' }, output_config: {} });
  // Its betas reach the upstream (this version puts no system message mid-conversation here).
  expect(first.headers['anthropic-beta']).toMatch(/interleaved-thinking-2025-05-14/);
  // Its thinking went back first, signature intact (the fake refuses it otherwise).
  const turn = requests[1]!.messages.findLast((message) => message.role === 'assistant');
  expect((turn?.content as { type: string }[])[0]).toMatchObject({
    type: 'thinking',
    thinking: 'I should read the file.',
  });
  expect(requests[1]?.messages.at(-1)).toMatchObject({
    role: 'user',
    content: expect.arrayContaining([
      expect.objectContaining({ type: 'tool_result', content: expect.stringContaining(word) as unknown }),
    ]) as unknown,
  });
  expect(canary.outside).toEqual([]);
}, 120_000);
