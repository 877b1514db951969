/* eslint-disable no-control-regex -- the terminal escape sequences are what these tests check */
/**
 * `keel run` on a real pseudo-terminal (util-linux `script`), through bin/keel.js (the build in
 * dist/), against a fake OpenAI server that streams its answer slowly: the text appears while the
 * run is still going, a spinner shows the elapsed time and the cost so far, and the answer is
 * shown once.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { ANSWER, streamerScript } from './__fixtures__/streamer-script.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/keel.js');
const CONFIG = join(import.meta.dirname, '__fixtures__/streamer.config.ts');
/** util-linux's `script` gives the CLI a pseudo-terminal (node-pty would need install scripts). */
const hasScript = spawnSync('script', ['--version']).status === 0;

/** Output of a command run on a pseudo-terminal, with the time each piece arrived. */
async function onTerminal(
  command: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; chunks: { at: number; text: string }[]; endedAt: number }> {
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A CLI that hangs is killed (with its terminal) rather than left behind.
    timeout: 90_000,
    killSignal: 'SIGKILL',
  });
  const chunks: { at: number; text: string }[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push({ at: performance.now(), text: chunk.toString() }));
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  return { code, chunks, endedAt: performance.now() };
}

describe('keel run on a terminal', () => {
  it('has a pseudo-terminal to run on (util-linux script)', () => {
    // Required, never skipped: without it the live output would go untested.
    expect(hasScript).toBe(true);
  });

  let fake: FakeOpenAIServer;
  let dataDir: string;
  beforeAll(async () => {
    fake = await createFakeOpenAIServer({ script: streamerScript() });
    dataDir = mkdtempSync(join(tmpdir(), 'keel-live-'));
  });
  afterAll(async () => {
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the text as it streams, with a spinner showing elapsed time and cost, and the answer once', async () => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TERM: 'xterm-256color',
      KEEL_DATA_DIR: dataDir,
      KEEL_LOG_LEVEL: 'error',
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: fake.url,
    };
    const { code, chunks, endedAt } = await onTerminal(
      `${process.execPath} ${BIN} run streamer "go slowly" --config ${CONFIG}`,
      env,
    );
    const screen = chunks.map((chunk) => chunk.text).join('');
    expect(code, screen).toBe(0);
    // The first piece of the answer reached the terminal well before the run ended.
    let seen = '';
    const first = chunks.find((chunk) => (seen += chunk.text).includes('Stre'));
    expect(first).toBeDefined();
    expect(endedAt - first!.at).toBeGreaterThan(600);
    // The spinner: updated in place, with elapsed seconds and the cost of the tool-call step.
    expect(screen).toMatch(/\r\x1b\[2K\x1b\[2m[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] [^\r]*· \d+\.\ds · \$0\.0002/);
    expect(screen).toMatch(/✓ tool {2}lookup/);
    // The answer once (streamed, not printed again at the end), then the summary.
    expect(screen.split(ANSWER)).toHaveLength(2);
    expect(screen).toMatch(/completed · 3 steps · /);
    // The spinner's last line was erased before the summary.
    expect(screen.slice(screen.lastIndexOf('\x1b[2m'))).toMatch(
      /^\x1b\[2m[^\r\n]*\x1b\[22m\r\x1b\[2K\r?\ncompleted/,
    );
  }, 120_000);
});
