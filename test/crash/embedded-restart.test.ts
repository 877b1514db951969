/**
 * Recovery on PGlite: the store belongs to one process (the data directory's lock), so a worker
 * that dies takes the whole database with it, liveness locks included. The process that opens
 * the directory next finds its runs claimable at once, without waiting for their lease.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { openStore } from '../../src/index.js';
import { spawnWorker, useScratchFolder, waitForExit, waitUntil } from './support.js';

const EMBEDDED_WORKER_PATH = fileURLToPath(new URL('./embedded-worker.mjs', import.meta.url));

const scratch = useScratchFolder();

it('lets the next process take over the runs of one SIGKILLed mid-tool, its lease still running', async () => {
  const keelDir = scratch.path;
  const dataDir = join(keelDir, 'data'); // where Keel keeps the database of a Keel folder
  const created = await openStore({ dataDir });
  const { run } = await created.store.createRun({ agent: 'embedded-agent', input: 'go' });
  await created.store.close();

  const child = spawnWorker('embedded', { KEEL_DATA_DIR: keelDir }, EMBEDDED_WORKER_PATH);
  try {
    await waitUntil(() => child.event('blocked'), {
      timeoutMs: 30_000,
      message: () => `the worker never blocked: ${child.describe()}`,
    });
  } finally {
    child.signal('SIGKILL');
  }
  expect((await waitForExit(child, 10_000)).signal).toBe('SIGKILL');

  const restarted = await openStore({ dataDir });
  try {
    const left = (await restarted.store.getRun(run.id))!;
    expect(left).toMatchObject({ status: 'running', leaseOwner: `embedded:${child.pid}`, attempts: 1 });
    // The dead process's lease has most of its 10 min to go; the claim does not wait for it.
    expect(left.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 300_000);
    const [taken] = await restarted.store.claimRuns({ owner: 'restarted', limit: 1, leaseMs: 60_000 });
    expect(taken).toMatchObject({
      id: run.id,
      fence: left.fence + 1,
      attempts: 2,
      leaseRecovered: true,
      ownerGone: true,
    });
    const steps = await restarted.store.loadSteps(run.id);
    expect(steps.map((step) => [step.kind, step.name, step.status])).toEqual([
      ['model', expect.any(String), 'completed'],
      ['tool', 'wait', 'started'],
    ]);
  } finally {
    await restarted.store.close();
  }
}, 180_000);
