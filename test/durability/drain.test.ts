import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { createScriptedModel } from '../../src/model/builtin-model.js';
import { defineAgent } from '../../src/runtime/agent.js';
import { waitForRun } from '../../src/runtime/run-agent.js';
import { createWorker } from '../../src/runtime/worker.js';
import { createMemoryStore } from '../../src/testing/memory-store.js';
import { defineTool } from '../../src/tools/tool.js';
import { silentLogger } from '../../src/util/logger.js';

const ROOT = resolve(import.meta.dirname, '../..');

it('a draining worker hands unfinished runs back at once; another resumes them with the same idempotency key', async () => {
  const store = await createMemoryStore();
  const keys: Array<{ key: string; attempt: number }> = [];
  let entered!: () => void;
  const inTool = new Promise<void>((resolve) => (entered = resolve));
  const charge = defineTool({
    name: 'charge',
    description: 'Charges a card; slow the first time.',
    input: z.object({}),
    effect: 'write',
    run: (_args, { idempotencyKey, attempt, signal }) => {
      keys.push({ key: idempotencyKey, attempt });
      if (keys.length > 1) return 'charged';
      entered();
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason as Error)),
      );
    },
  });
  const agent = defineAgent({
    name: 'payer',
    instructions: 'x',
    model: createScriptedModel({ replies: [{ toolCalls: [{ name: 'charge', arguments: {} }] }, 'paid'] }),
    tools: [charge],
  });
  const { run } = await store.createRun({ agent: 'payer', input: 'pay' });
  const first = createWorker({
    store,
    agents: [agent],
    drainTimeoutMs: 200,
    pollMs: 50,
    logger: silentLogger,
  });
  first.start();
  await inTool;
  await first.stop();
  const released = await store.getRun(run.id);
  expect(released?.status).toBe('queued');
  expect(released?.leaseOwner).toBeNull();

  const second = createWorker({ store, agents: [agent], pollMs: 50, logger: silentLogger });
  second.start();
  const finished = await waitForRun({ store, runId: run.id, pollMs: 50 });
  await second.stop();
  expect(finished.stopReason).toBe('completed');
  expect(keys).toEqual([
    { key: `${run.id}:1`, attempt: 1 },
    { key: `${run.id}:1`, attempt: 2 },
  ]);
  const toolStep = (await store.loadSteps(run.id)).find((step) => step.kind === 'tool');
  expect(toolStep?.attempt).toBe(2);
  await store.close();
}, 60_000);

it('keel worker exits 0 on SIGTERM after finishing its in-flight run', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-drain-'));
  const config = join(dataDir, 'keel.config.ts');
  writeFileSync(
    config,
    `import { defineAgent, defineTool, createScriptedModel, z } from 'keel';
const slow = defineTool({ name: 'slow', description: 'Takes a second.', input: z.object({}),
  run: () => new Promise((resolve) => setTimeout(() => resolve('ok'), 1000)) });
export default { agents: [defineAgent({ name: 'slow', instructions: 'x', tools: [slow],
  model: createScriptedModel({ replies: [{ toolCalls: [{ name: 'slow', arguments: {} }] }, 'finished'] }) })] };
`,
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KEEL_DATA_DIR: join(dataDir, '.keel'),
    KEEL_LOG_LEVEL: 'info',
  };
  delete env.DATABASE_URL;
  // Every process this test starts is killed at the end, also when the test fails or times out.
  const children: ReturnType<typeof spawn>[] = [];
  const keel = (args: string[]) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/keel.js'), ...args, '--config', config], {
      env,
      cwd: dataDir,
    });
    children.push(child);
    return child;
  };
  try {
    const detach = keel(['run', 'slow', 'go', '--detach']);
    let runId = '';
    detach.stdout.on('data', (chunk: Buffer) => (runId += chunk.toString()));
    expect(await new Promise((done) => detach.on('exit', done))).toBe(0);

    const worker = keel(['worker']);
    let log = '';
    worker.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await new Promise<void>((ready) => {
      const check = setInterval(() => {
        if (log.includes('worker started')) {
          clearInterval(check);
          ready();
        }
      }, 50);
    });
    await new Promise((settle) => setTimeout(settle, 700)); // let it claim the run and enter the tool
    worker.kill('SIGTERM');
    const exitCode = await new Promise((done) => worker.on('exit', done));
    expect(exitCode).toBe(0);
    expect(log).toContain('worker stopped');

    const show = keel(['show', runId.trim(), '--json']);
    let shown = '';
    show.stdout.on('data', (chunk: Buffer) => (shown += chunk.toString()));
    await new Promise((done) => show.on('exit', done));
    expect((JSON.parse(shown) as { stop_reason: string }).stop_reason).toBe('completed');
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);
