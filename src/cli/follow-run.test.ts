/**
 * `keel run` through a real `keel serve` (bin/keel.js, the build in dist/) that owns the embedded
 * database: the run is followed over its event stream, its text shown as it streams, and a
 * connection cut mid-stream is resumed with Last-Event-ID without losing or repeating text.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../testing/fake-openai-server.js';
import { createTcpProxy, type TcpProxy } from '../testing/tcp-proxy.js';
import { ANSWER, streamerScript } from './__fixtures__/streamer-script.js';
import { main } from './main.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/keel.js');
const CONFIG = join(import.meta.dirname, '__fixtures__/streamer.config.ts');

describe('keel run through keel serve', () => {
  let fake: FakeOpenAIServer;
  let dataDir: string;
  let serve: ChildProcessWithoutNullStreams;
  let lines: AsyncIterator<string>;
  let serving: { event: string; url: string; agents: string[] };
  let proxy: TcpProxy;
  beforeAll(async () => {
    fake = await createFakeOpenAIServer({ script: streamerScript(150) });
    dataDir = mkdtempSync(join(tmpdir(), 'keel-follow-'));
    serve = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json', '--config', CONFIG], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KEEL_DATA_DIR: dataDir,
        KEEL_LOG_LEVEL: 'error',
        KEEL_CONSOLE: 'false',
        OPENAI_API_KEY: 'sk-test',
        OPENAI_BASE_URL: fake.url,
      },
    });
    let stderr = '';
    serve.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    lines = createInterface({ input: serve.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done === true) throw new Error(`keel serve ended: ${stderr}`);
    serving = JSON.parse(first.value) as typeof serving;
    // The CLI finds the server through the lock; point it at a proxy this test can cut.
    proxy = await createTcpProxy({ targetPort: Number(new URL(serving.url).port) });
    const lockPath = join(dataDir, 'lock');
    const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(lockPath, JSON.stringify({ ...lock, url: `http://127.0.0.1:${proxy.port}` }), {
      mode: 0o600,
    });
  }, 240_000);
  afterAll(async () => {
    serve.kill('SIGTERM');
    await new Promise((done) => serve.once('exit', done));
    await proxy?.close();
    await fake.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serve --json announces itself as a JSON line; keel run follows the event stream live and survives a cut', async () => {
    expect(serving).toMatchObject({ event: 'serving', agents: ['streamer'] });
    const outputs: { at: number; text: string }[] = [];
    let stderr = '';
    let cut = false;
    let acceptedBeforeCut = 0;
    const ran = main(['run', 'streamer', 'go slowly'], {
      stdout: {
        isTTY: true,
        write: (text: string) => {
          outputs.push({ at: performance.now(), text });
          // Once text is flowing, cut every connection for a moment.
          if (!cut && outputs.map((output) => output.text).join('').length > 8) {
            cut = true;
            acceptedBeforeCut = proxy.stats().accepted;
            proxy.setMode('reset');
            setTimeout(() => proxy.setMode('pass'), 300);
          }
          return true;
        },
      },
      stderr: { write: (text: string) => (stderr += text) },
      env: { KEEL_DATA_DIR: dataDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH },
      cwd: dataDir,
      signal: new AbortController().signal,
    });
    const code = await ran;
    const endedAt = performance.now();
    expect(code, stderr).toBe(0);
    expect(cut).toBe(true);
    // Reconnected after the cut, and the text is whole: nothing lost, nothing twice.
    expect(proxy.stats().accepted).toBeGreaterThan(acceptedBeforeCut);
    expect(outputs.map((output) => output.text).join('')).toBe(`${ANSWER}\n`);
    // Live: the first text came well before the run's end.
    expect(endedAt - outputs[0]!.at).toBeGreaterThan(500);
    expect(stderr).toMatch(/completed · 3 steps · .* · \$0\.000402 · run_/);
  }, 120_000);
});
