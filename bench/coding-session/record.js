#!/usr/bin/env node
// Records the Claude Code session the coding-session benchmark replays (session.json beside this
// file). Re-run it when the pinned Claude Code changes (measure.js refuses a fixture recorded with
// another version than the one installed):
//
//   npm run build && node bench/coding-session/record.js
//
// The real Claude Code (`@anthropic-ai/claude-code`, the root's devDependency) runs
// non-interactively (`claude -p`) in its default mode (extended thinking, its betas) in a
// fresh directory holding a small project with a bug, pointed straight at Keel's Anthropic fake
// (`createFakeAnthropicServer` of keel/testing) through a recording proxy. The fake plays a
// plausible fix: thinking, then tool calls (Glob, two Reads at once, Grep, Edit, Bash running the
// project's check), then a final answer. The tools really run; their output reaches the next
// request. The proxy keeps every exchange as it went over the wire: method, path, the request's
// headers and exact body bytes, the answer's status, headers and its streamed chunks, one per
// event. Everything stays on loopback, as in src/gateway/http/recipe-coding-cli.test.ts: the
// CLI's non-essential traffic is off, and HTTPS_PROXY/HTTP_PROXY point at a canary that refuses
// (and counts) anything bound elsewhere; the recording fails if it saw anything.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const FIXTURE = join(HERE, 'session.json');
/** The model Claude Code is told to use: Keel's route in the benchmark has this name. */
export const MODEL = 'claude-sonnet-4-5';
/** The key Claude Code sends (the fake accepts any): the benchmark swaps in each system's own. */
const RECORDING_KEY = 'sk-ant-recording';
/** Characters per streamed delta of the fake's answers (a few tokens, as the real API sends). */
const CHUNK = 24;

/** Version of the installed Claude Code, and its launcher. */
export function claudeCode() {
  const require = createRequire(join(HERE, '..', '..', 'package.json'));
  const manifest = require.resolve('@anthropic-ai/claude-code/package.json');
  return {
    version: JSON.parse(readFileSync(manifest, 'utf8')).version,
    launcher: join(dirname(manifest), 'cli-wrapper.cjs'),
  };
}

/** The project Claude Code is asked to fix: `add` subtracts; check.js says so. */
function writeProject(dir) {
  mkdirSync(join(dir, 'src'));
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: 'tiny-math', version: '1.0.0', type: 'module', private: true }, null, 2)}\n`,
  );
  writeFileSync(
    join(dir, 'src', 'math.js'),
    [
      '// Small arithmetic helpers.',
      '',
      '/** The sum of a and b. */',
      'export function add(a, b) {',
      '  return a - b;',
      '}',
      '',
      '/** The product of a and b. */',
      'export function multiply(a, b) {',
      '  return a * b;',
      '}',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'src', 'check.js'),
    [
      "import { add, multiply } from './math.js';",
      '',
      'const failures = [];',
      'if (add(2, 3) !== 5) failures.push(`add(2, 3) = ${add(2, 3)}, expected 5`);',
      'if (multiply(4, 5) !== 20) failures.push(`multiply(4, 5) = ${multiply(4, 5)}, expected 20`);',
      "console.log(failures.length ? failures.join('\\n') : 'all checks pass');",
      'process.exitCode = failures.length ? 1 : 0;',
      '',
    ].join('\n'),
  );
}

/** What the fake answers at each turn of the main loop (requests with tools), by turn. */
function plan(dir) {
  const math = join(dir, 'src', 'math.js');
  const check = join(dir, 'src', 'check.js');
  return [
    {
      thinking:
        'The user says the checks fail. I should first see which files the project has, then read the ' +
        'arithmetic module and the check script to find the bug before changing anything.',
      toolUses: [{ name: 'Glob', input: { pattern: '**/*.js' } }],
    },
    {
      thinking:
        'There are two source files: src/math.js and src/check.js. Reading both at once shows what the ' +
        'check expects and what the implementation does.',
      toolUses: [
        { name: 'Read', input: { file_path: math } },
        { name: 'Read', input: { file_path: check } },
      ],
    },
    {
      thinking:
        '`add` returns a - b, which is a subtraction, while check.js expects add(2, 3) to be 5. Before ' +
        'editing, let me make sure nothing else calls add and relies on the current behaviour.',
      toolUses: [
        { name: 'Grep', input: { pattern: 'add\\(', path: dir, output_mode: 'content', '-n': true } },
      ],
    },
    {
      thinking:
        'Only check.js uses add, and it expects a sum. The fix is to return a + b. The doc comment already ' +
        'says "The sum of a and b", so the implementation is what is wrong.',
      text: 'The bug is in `add`: it subtracts. Fixing it.',
      toolUses: [
        {
          name: 'Edit',
          input: { file_path: math, old_string: '  return a - b;', new_string: '  return a + b;' },
        },
      ],
    },
    {
      thinking: 'Now run the project check to confirm both functions behave.',
      toolUses: [
        {
          name: 'Bash',
          input: { command: 'node src/check.js', description: 'Run the arithmetic checks' },
        },
      ],
    },
    {
      thinking: 'The check prints "all checks pass" and exits 0. Summarise the fix for the user.',
      text:
        'Fixed the bug in `src/math.js`: `add(a, b)` returned `a - b` instead of `a + b`. I changed it ' +
        'to return the sum, and `node src/check.js` now reports that all checks pass. `multiply` was ' +
        'already correct and nothing else in the project calls `add`.',
    },
  ].map((reply) => ({ ...reply, chunkSize: CHUNK }));
}

/** Headers that belong to one connection, not to the request (never replayed). */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

/** A proxy in front of `target` that keeps each exchange as it went over the wire. */
async function startRecordingProxy(target) {
  const exchanges = [];
  const server = createServer((incoming, outgoing) => {
    const parts = [];
    incoming.on('data', (d) => parts.push(d));
    incoming.on('end', () => {
      const body = Buffer.concat(parts);
      const exchange = {
        method: incoming.method,
        path: incoming.url,
        // Raw order and case, as sent.
        headers: pairs(incoming.rawHeaders).filter(([name]) => !HOP.has(name.toLowerCase())),
        body: body.toString('utf8'),
        response: undefined,
      };
      exchanges.push(exchange);
      const upstream = httpRequest(
        `${target}${incoming.url}`,
        { method: incoming.method, headers: { ...incoming.headers, host: new URL(target).host } },
        (answer) => {
          const chunks = [];
          const headers = pairs(answer.rawHeaders).filter(([name]) => !HOP.has(name.toLowerCase()));
          outgoing.writeHead(answer.statusCode, Object.fromEntries(headers));
          answer.on('data', (d) => {
            chunks.push(d.toString('utf8'));
            outgoing.write(d);
          });
          answer.on('end', () => {
            exchange.response = { status: answer.statusCode, headers, chunks };
            outgoing.end();
          });
        },
      );
      upstream.on('error', (error) => outgoing.destroy(error));
      upstream.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    exchanges,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function pairs(raw) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

/** A proxy that lets nothing leave the machine and keeps what tried. */
async function startCanary() {
  const outside = [];
  const server = createServer((request, response) => {
    outside.push(`${request.method} ${request.url}`);
    response.writeHead(403).end();
  });
  server.on('connect', (request, socket) => {
    outside.push(`CONNECT ${request.url}`);
    socket.on('error', () => {});
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    outside,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Runs the launcher in its own process group, killed whole after timeoutMs or when it closes. */
function run(launcher, args, { cwd, env, timeoutMs }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [launcher, ...args], {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killGroup = () => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(killGroup, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      killGroup();
      resolve({ code, stdout, stderr });
    });
  });
}

/** Records the session; returns the fixture (not written). */
export async function recordSession() {
  const { createFakeAnthropicServer } = await import('keel/testing');
  const { version, launcher } = claudeCode();
  const home = mkdtempSync(join(tmpdir(), 'keel-bench-claude-home-'));
  const work = mkdtempSync(join(tmpdir(), 'keel-bench-claude-work-'));
  writeProject(work);
  const turns = plan(work);
  // Main-loop requests (they carry tools) get the plan's turn by the assistant turns before them;
  // anything else Claude Code asks on the side gets a short text.
  const fake = await createFakeAnthropicServer({
    handler(request) {
      const body = request.body ?? {};
      if (!Array.isArray(body.tools) || body.tools.length === 0)
        return { text: 'Fix arithmetic bug', chunkSize: CHUNK };
      const turn = (body.messages ?? []).filter((m) => m.role === 'assistant').length;
      return turns[turn] ?? { kind: 'error', status: 500, message: `no turn ${turn} in the plan` };
    },
  });
  const proxy = await startRecordingProxy(fake.url);
  const canary = await startCanary();
  try {
    const result = await run(
      launcher,
      [
        '-p',
        'The checks in this project fail (node src/check.js). Find the bug and fix it.',
        '--allowedTools',
        'Glob',
        'Read',
        'Grep',
        'Edit',
        'Bash(node src/check.js)',
      ],
      {
        cwd: work,
        timeoutMs: 180_000,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: home,
          ANTHROPIC_BASE_URL: proxy.url,
          ANTHROPIC_API_KEY: RECORDING_KEY,
          ANTHROPIC_MODEL: MODEL,
          ANTHROPIC_DEFAULT_HAIKU_MODEL: MODEL,
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          HTTPS_PROXY: canary.url,
          HTTP_PROXY: canary.url,
          NO_PROXY: '127.0.0.1,localhost',
        },
      },
    );
    if (result.code !== 0)
      throw new Error(
        `Claude Code exited ${result.code}: ${(result.stderr || result.stdout).slice(0, 2000)}`,
      );
    const fixed = readFileSync(join(work, 'src', 'math.js'), 'utf8');
    if (!fixed.includes('return a + b;')) throw new Error(`Claude Code did not apply the edit:\n${fixed}`);
    if (canary.outside.length) throw new Error(`Claude Code tried to leave the machine: ${canary.outside}`);
    const exchanges = proxy.exchanges.filter((e) => e.method === 'POST' && e.path.startsWith('/v1/messages'));
    const bad = exchanges.find((e) => e.response?.status !== 200);
    if (bad) throw new Error(`the fake answered ${bad.response?.status}: ${bad.response?.chunks.join('')}`);
    const mainLoop = exchanges.filter((e) => Array.isArray(JSON.parse(e.body).tools));
    if (mainLoop.length !== turns.length)
      throw new Error(`expected ${turns.length} main-loop requests, got ${mainLoop.length}`);
    return {
      recordedWith: { claudeCode: version, node: process.version, date: new Date().toISOString() },
      model: MODEL,
      recordingKey: RECORDING_KEY,
      finalText: result.stdout.trim(),
      // Every other request (startup probes, side questions) is kept as well, but the benchmark
      // replays the Messages calls only.
      otherRequests: proxy.exchanges
        .filter((e) => !exchanges.includes(e))
        .map((e) => `${e.method} ${e.path} ${e.response?.status}`),
      exchanges,
    };
  } finally {
    await proxy.close();
    await canary.close();
    await fake.close();
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const session = await recordSession();
  writeFileSync(FIXTURE, `${JSON.stringify(session, null, 1)}\n`);
  const bytes = session.exchanges.reduce((n, e) => n + e.body.length, 0);
  console.log(
    `recorded ${session.exchanges.length} Messages requests (${(bytes / 1024).toFixed(0)} KiB of bodies) ` +
      `from Claude Code ${session.recordedWith.claudeCode} into ${FIXTURE}` +
      (session.otherRequests.length ? `; also seen: ${session.otherRequests.join(', ')}` : ''),
  );
}
