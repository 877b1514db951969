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
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

/** The version the recipe is tested with (docs/gateway.md names it); package.json pins it. */
const CLAUDE_CODE_VERSION = '2.1.332';

let keel: RecipeGateway;
let canary: Server;
let canaryUrl: string;
const outside: string[] = [];
const temps: string[] = [];

beforeAll(async () => {
  keel = await startRecipeGateway();
  // A proxy that lets nothing through: any request or CONNECT reaching it would have left the machine.
  canary = createServer((request, response) => {
    outside.push(`${request.method} ${request.url}`);
    response.writeHead(403).end();
  });
  canary.on('connect', (request: IncomingMessage, socket: Duplex) => {
    outside.push(`CONNECT ${request.url}`);
    socket.on('error', () => {}); // the CLI may reset the refused tunnel
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
  canaryUrl = `http://127.0.0.1:${(canary.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await keel?.close();
  canary?.closeAllConnections();
  await new Promise((resolve) => canary?.close(resolve));
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

async function runClaude(
  args: string[],
  options: { cwd: string; env: Record<string, string> },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [claudeLauncher(), ...args], {
    cwd: options.cwd,
    env: options.env,
    detached: true, // its own process group, so a hung CLI and the binary it launched are both killed
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(killGroup, 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  killGroup();
  return { code, stdout, stderr };
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
        HTTPS_PROXY: canaryUrl,
        HTTP_PROXY: canaryUrl,
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
  expect(outside).toEqual([]);
}, 120_000);
