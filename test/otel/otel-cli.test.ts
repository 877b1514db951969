/**
 * The commands wire OpenTelemetry export from the standard variables: `keel gateway` exports its
 * calls' spans and flushes them on SIGTERM; a setting it cannot use stops a command at startup.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

let upstream: FakeOpenAIServer;
let receiver: OtlpReceiver;
let directory: string;
let config: string;

beforeAll(async () => {
  upstream = await createFakeOpenAIServer({ handler: () => ({ content: 'Hello' }) });
  receiver = await startOtlpReceiver();
  directory = mkdtempSync(join(tmpdir(), 'keel-otel-cli-'));
  config = join(directory, 'keel.config.mjs');
  writeFileSync(
    config,
    `export default { gateway: {
      deployments: [{ name: 'fake', provider: 'openai-compatible', model: 'gpt-4o-mini', baseURL: '${upstream.url}' }],
      routes: [{ name: 'fast', deployments: ['fake'] }],
    },
    agents: [{ name: 'echoer', instructions: 'Repeat.', model: 'builtin:echo' }] };\n`,
  );
});
afterAll(async () => {
  await receiver?.close();
  await upstream?.close();
  rmSync(directory, { recursive: true, force: true });
});

function io(env: Record<string, string> = {}, signal = new AbortController().signal) {
  const output = { stdout: '', stderr: '' };
  return {
    output,
    io: {
      stdout: { write: (text: string) => (output.stdout += text) },
      stderr: { write: (text: string) => (output.stderr += text) },
      env: {
        KEEL_DATA_DIR: join(directory, '.keel'),
        KEEL_LOG_LEVEL: 'error',
        PATH: process.env.PATH,
        ...env,
      },
      cwd: directory,
      signal,
    },
  };
}

it('keel gateway exports a span per call and flushes it on SIGTERM', { timeout: 120_000 }, async () => {
  const created = io();
  expect(
    await main(['keys', 'create', '--tenant', 'acme', '--scopes', 'gateway', '--json'], created.io),
  ).toBe(0);
  const { key } = JSON.parse(created.output.stdout) as { key: string };

  const controller = new AbortController();
  // A 10 min batch delay: only the shutdown flush can have sent the span.
  const served = io(
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'gateway-cli',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    },
    controller.signal,
  );
  const running = main(['gateway', '--port', '0', '--config', config], served.io);
  const deadline = Date.now() + 30_000;
  let baseURL: string | undefined;
  while (baseURL === undefined && Date.now() < deadline) {
    baseURL = /at (http:\/\/\S+\/v1)/.exec(served.output.stderr)?.[1];
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(baseURL, served.output.stderr).toBeDefined();
  const traceId = 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb';
  const response = await fetch(`${baseURL}/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      traceparent: `00-${traceId}-cccccccccccccccc-01`,
    },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hi' }] }),
  });
  expect(response.status).toBe(200);
  expect(receiver.spans().filter((span) => span.traceId === traceId)).toEqual([]);
  controller.abort();
  expect(await running).toBe(0);
  const spans = receiver.spans().filter((span) => span.traceId === traceId);
  expect(spans.map((span) => [span.name, span.parentSpanId, span.resource['service.name']])).toEqual([
    ['chat fast', 'cccccccccccccccc', 'gateway-cli'],
  ]);
});

it('keel run exports the run’s spans before it exits', { timeout: 120_000 }, async () => {
  const run = io({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '600000' });
  expect(await main(['run', 'echoer', 'hello', '--json', '--config', config], run.io)).toBe(0);
  const { id } = JSON.parse(run.output.stdout) as { id: string };
  const spans = receiver.spans().filter((span) => span.attributes['keel.run.id'] === id);
  expect(spans.map((span) => span.name).sort()).toEqual(['chat echo', 'invoke_agent echoer']);
});

it.each(['worker', 'gateway', 'serve', 'run'])(
  'keel %s refuses an OTLP protocol it cannot speak (config_invalid, exit 3)',
  async (command) => {
    const run = io({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    const args =
      command === 'run' ? ['run', 'echoer', 'hi', '--config', config] : [command, '--config', config];
    expect(await main(args, run.io)).toBe(3);
    expect(run.output.stderr).toContain('OTEL_EXPORTER_OTLP_PROTOCOL');
  },
);
