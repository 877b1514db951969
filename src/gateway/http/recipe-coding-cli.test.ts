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
import { randomBytes, randomUUID } from 'node:crypto';
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

/**
 * Has Claude Code read a fresh secret file through the gateway: the upstream first answers
 * `first` (plus a `Read` of the file), then the final text. Returns the CLI's result, the word and
 * the upstream requests this run made.
 */
async function readSecretWithClaude({
  args,
  env = {},
  first = {},
}: {
  args: string[];
  env?: Record<string, string>;
  first?: { thinking?: string };
}) {
  const home = tempDir('keel-claude-home-');
  const work = tempDir('keel-claude-work-');
  const word = `pelican-${randomBytes(4).toString('hex')}`;
  const secret = join(work, 'secret.txt');
  writeFileSync(secret, `the word is ${word}\n`);
  const before = keel.claudeUpstream.requests.length;
  keel.claudeUpstream.enqueue({ ...first, toolUses: [{ name: 'Read', input: { file_path: secret } }] });
  keel.claudeUpstream.enqueue({ text: `The word in secret.txt is ${word}.` });
  const result = await runClaude(
    ['-p', 'What is the word in secret.txt?', ...args, '--allowedTools', 'Read'],
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
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        ...env,
        // The test's guard: anything bound elsewhere goes to the canary.
        HTTPS_PROXY: canary.url,
        HTTP_PROXY: canary.url,
        NO_PROXY: '127.0.0.1,localhost',
      },
    },
  );
  expect(result, result.stderr).toMatchObject({ code: 0 });
  expect(result.stdout.trim()).toBe(`The word in secret.txt is ${word}.`);
  const requests = keel.claudeUpstream.requests.slice(before);
  expect(requests).toHaveLength(2);
  // The tool really ran: the file's content (only on disk) reached the upstream as the tool's result.
  const last = (requests[1]?.body as { messages: unknown[] }).messages.at(-1);
  expect(last).toMatchObject({
    role: 'user',
    content: expect.arrayContaining([
      expect.objectContaining({ type: 'tool_result', content: expect.stringContaining(word) as unknown }),
    ]) as unknown,
  });
  expect(canary.outside).toEqual([]);
  return requests;
}

it(`Claude Code ${CLAUDE_CODE_VERSION} completes a tool round trip through the gateway (--bare, no thinking, no effort)`, async () => {
  const session = randomUUID();
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
  expect(await keel.recordedCalls()).toEqual([
    { endpoint: 'messages', userId: 'ada', sessionId: session },
    { endpoint: 'messages', userId: 'ada', sessionId: session },
  ]);
}, 120_000);

it(`Claude Code ${CLAUDE_CODE_VERSION} in its default mode (adaptive thinking, effort, betas) completes a tool round trip`, async () => {
  const session = randomUUID();
  const requests = await readSecretWithClaude({
    args: ['--session-id', session],
    first: { thinking: 'I should read the file.' },
  });
  // Without x-keel-user, its own ids attribute the calls: the device in metadata.user_id (the
  // same on both calls) and the session it was given.
  const calls = (await keel.recordedCalls()).slice(-2);
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
