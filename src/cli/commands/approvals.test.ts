import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetApprovalRequest } from '../../budgets/budget-approval.js';
import { createBudgetStore } from '../../budgets/budget-store.js';
import { auditTable, toAuditRecord, type AuditRow } from '../../journal/audit-log.js';
import { openStore } from '../../journal/open-store.js';
import type { JournalStore } from '../../journal/store.js';
import type { ApprovalView } from '../../server/approval-routes.js';
import { startTestServer, type TestServer } from '../../server/__fixtures__/test-server.js';
import { createWorker } from '../../runtime/worker.js';
import { silentLogger } from '../../util/logger.js';
import { processStartTime } from '../../util/process-identity.js';
import payerConfig from '../__fixtures__/payer.config.js';
import { runCli } from '../__fixtures__/run-cli.js';
import { main } from '../main.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const PAYER = join(import.meta.dirname, '../__fixtures__/payer.config.ts');

/** A run of `agent` suspended on one pending approval (no worker involved). */
async function suspendOn(
  store: JournalStore,
  request: { tool: string; arguments: unknown },
  { tenantId = 'default', agent = 'payer' } = {},
) {
  const { run } = await store.createRun({ tenantId, agent, input: 'pay' });
  const [claimed] = await store.claimRuns({ owner: 'test', limit: 1, leaseMs: 60_000, ids: [run.id] });
  const lease = { runId: run.id, owner: 'test', fence: claimed!.fence };
  const [approval] = await store.suspendForApproval(lease, {
    approvals: [
      {
        stepSeq: 0,
        tool: request.tool,
        arguments: request.arguments,
        ttlMs: null,
        step: {
          seq: 0,
          parentSeq: null,
          kind: 'approval',
          name: request.tool,
          inputHash: 'h',
          attempt: 1,
          startedAt: new Date(),
        },
      },
    ],
  });
  return approval!;
}

// Each CLI call opens the embedded database in-process (3-5 s under a loaded CI machine), and a
// test makes up to ten of them: the time limits leave room for that, not for a slow feature.
describe('keel approvals and keel cancel on the database', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-approvals-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, { dataDir, cwd: ROOT, env: { USER: 'ada', ...env } });

  it('keel run prints the approval and its commands; the approval is listed, approved once, refused again', async () => {
    const ran = await cli(['run', 'payer', 'pay the rent', '--config', PAYER]);
    // The embedded database is held by `keel run`: it stops (exit 1) rather than wait on nobody.
    expect(ran.code).toBe(1);
    const id = /keel approvals approve (\S+)/.exec(ran.stderr)?.[1];
    expect(id).toBeDefined();
    expect(ran.stderr).toContain('approval needed: transfer {"amount":500}');
    expect(ran.stderr).toContain(`reject:  keel approvals reject ${id} --reason`);
    expect(ran.stderr).toMatch(/keel worker \(or keel serve\) resumes run run_\S+/);
    expect(ran.stderr).toMatch(/awaiting_approval · /);

    const listed = await cli(['approvals', 'list', '--json']);
    expect(listed.code).toBe(0);
    const approvals = JSON.parse(listed.stdout) as ApprovalView[];
    expect(approvals).toEqual([
      expect.objectContaining({
        id,
        tool: 'transfer',
        kind: 'tool',
        status: 'pending',
        arguments: { amount: 500 },
      }),
    ]);
    const runId = approvals[0]!.run_id;
    expect((await cli(['approvals', 'list'])).stdout).toMatch(
      new RegExp(`^${id}\\s+${runId}\\s+transfer\\s+pending\\s+.*\\{"amount":500\\}$`, 'm'),
    );
    expect(JSON.parse((await cli(['approvals', 'list', '--run', 'run_other', '--json'])).stdout)).toEqual([]);

    const approved = await cli(['approvals', 'approve', id!, '--reason', 'rent is due']);
    expect(approved).toMatchObject({
      code: 0,
      stdout:
        `Approved ${id} (transfer, run ${runId}).\n` +
        `Run ${runId} is queued again: the keel run waiting on it, or a keel worker or keel serve, resumes it.\n`,
    });
    // The same decision by the same person is harmless; another one is refused (exit 2).
    expect(JSON.parse((await cli(['approvals', 'approve', id!, '--json'])).stdout)).toMatchObject({
      id,
      status: 'approved',
      decided_by: 'cli:ada',
      reason: 'rent is due',
    });
    const again = await cli(['approvals', 'reject', id!]);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(
      `keel: Approval ${id} is approved, not pending: it cannot be decided again. [approval_not_pending]\n`,
    );
    const unknown = await cli(['approvals', 'approve', 'apr_nope']);
    expect(unknown).toMatchObject({
      code: 2,
      stderr: 'keel: Approval apr_nope not found. [approval_not_found]\n',
    });
    expect((await cli(['approvals', 'approve'])).code).toBe(2);
    expect((await cli(['approvals', 'approve', id!, '--run', runId])).code).toBe(2);
  }, 180_000);

  it('cancels a run awaiting approval (its approval is cancelled) and refuses an unknown run', async () => {
    const ran = await cli(['run', 'payer', 'pay again', '--config', PAYER, '--json']);
    expect(ran.code).toBe(1);
    const run = JSON.parse(ran.stdout) as { id: string; status: string };
    expect(run.status).toBe('awaiting_approval');
    const id = /keel approvals approve (\S+)/.exec(ran.stderr)![1]!;

    expect(await cli(['cancel', run.id])).toMatchObject({ code: 0, stdout: `Run ${run.id} is cancelled.\n` });
    expect(JSON.parse((await cli(['cancel', run.id, '--json'])).stdout)).toMatchObject({
      id: run.id,
      status: 'cancelled',
    });
    const late = await cli(['approvals', 'approve', id]);
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/is cancelled, not pending/);
    const unknown = await cli(['cancel', 'run_nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/\[run_not_found\]/);
    expect((await cli(['cancel'])).code).toBe(2);
  }, 180_000);

  it('approving a budget extension raises the budget, audited with the CLI user', async () => {
    const { store, client } = await openStore({ dataDir: join(dataDir, 'data') });
    let approvalId: string;
    let budgetId: string;
    const budgets = createBudgetStore({ client });
    try {
      const budget = await budgets.create(
        'default',
        { scope: 'agent', scopeId: 'payer', period: 'day', limitUsd: 0.001, onExhausted: 'approval' },
        'key:test',
      );
      budgetId = budget.id;
      approvalId = (
        await suspendOn(
          store,
          budgetApprovalRequest(
            {
              budgetId: budget.id,
              scope: 'agent',
              scopeId: 'payer',
              period: 'day',
              limitUsd: 0.001,
              limitTokens: null,
              spentUsd: 0.0009,
              reservedUsd: 0,
              spentTokens: 900,
              reservedTokens: 0,
            },
            {
              usd: 0.005,
              tokens: 1200,
              prompt_tokens: 200,
              output_tokens: 1000,
              model: 'openai:gpt-4o-mini',
            },
          ),
        )
      ).id;
    } finally {
      await store.close();
    }
    const approved = await cli(['approvals', 'approve', approvalId, '--json']);
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({ kind: 'budget_extension', status: 'approved' });

    const reopened = await openStore({ dataDir: join(dataDir, 'data') });
    try {
      const raised = await createBudgetStore({ client: reopened.client }).get('default', budgetId);
      // Without an amount the extension is all the held call needs: 0.005.
      expect(raised!.limitUsd).toBeCloseTo(0.006, 12);
      const audit = (
        await reopened.client.query<AuditRow>(
          `SELECT * FROM ${auditTable()} WHERE action = 'budget.extend' AND target = $1`,
          [`budget:${budgetId}`],
        )
      ).rows.map(toAuditRecord);
      expect(audit).toEqual([expect.objectContaining({ actor: 'cli:ada' })]);
    } finally {
      await reopened.store.close();
    }
  }, 180_000);
});

/**
 * Through a running server that holds the embedded database: `keel approvals` and `keel cancel`
 * call its API with the local admin key (tenant `default`), and a decided run goes on in its worker.
 */
describe('keel approvals and keel cancel through the local server', () => {
  const payer = payerConfig.agents[0]!;
  let app: TestServer;
  let keelDir: string;
  let owner: ChildProcess;
  let adminKeyId: string;
  beforeAll(async () => {
    app = await startTestServer({ agents: new Map([['payer', payer]]) });
    const { key, record } = await app.apiKeys.create({ tenantId: 'default', scopes: ['admin', 'operator'] });
    adminKeyId = record.id;
    keelDir = mkdtempSync(join(tmpdir(), 'keel-approvals-remote-'));
    owner = spawn('sleep', ['300'], { stdio: 'ignore' });
    const identity = { pid: owner.pid as number, startTime: processStartTime(owner.pid as number) as string };
    writeFileSync(join(keelDir, 'lock'), JSON.stringify({ ...identity, url: app.url }));
    writeFileSync(join(keelDir, 'admin-key'), `${key}\n`);
  });
  afterAll(async () => {
    owner.kill('SIGKILL');
    await app.close();
    rmSync(keelDir, { recursive: true, force: true });
  });
  const keel = (args: string[]) => runCli(args, { dataDir: keelDir, cwd: keelDir });

  it('lists, approves (the run completes), refuses a second decision, and cancels', async () => {
    const { run } = await app.store.createRun({ tenantId: 'default', agent: 'payer', input: 'pay' });
    const worker = createWorker({ store: app.store, agents: [payer], logger: silentLogger, pollMs: 20 });
    worker.start();
    try {
      let pending: ApprovalView[] = [];
      for (let tries = 0; pending.length === 0 && tries < 200; tries++) {
        pending = JSON.parse(
          (await keel(['approvals', 'list', '--run', run.id, '--json'])).stdout,
        ) as ApprovalView[];
        if (pending.length === 0) await new Promise((done) => setTimeout(done, 25));
      }
      expect(pending).toEqual([
        expect.objectContaining({ tool: 'transfer', status: 'pending', arguments: { amount: 500 } }),
      ]);
      const id = pending[0]!.id;
      const approved = await keel(['approvals', 'approve', id, '--reason', 'ok', '--json']);
      expect(approved.code).toBe(0);
      expect(JSON.parse(approved.stdout)).toMatchObject({
        id,
        status: 'approved',
        decided_by: `key:${adminKeyId}`,
      });
      const again = await keel(['approvals', 'reject', id]);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/\[approval_not_pending\]/);
      expect((await keel(['approvals', 'approve', 'apr_nope'])).stderr).toMatch(/\[approval_not_found\]/);
      for (let tries = 0; tries < 200; tries++) {
        if ((await app.store.getRun(run.id))?.status === 'completed') break;
        await new Promise((done) => setTimeout(done, 25));
      }
      expect(await app.store.getRun(run.id)).toMatchObject({
        status: 'completed',
        output: 'tool said: {"done":500}',
      });
    } finally {
      await worker.stop();
    }

    const { run: queued } = await app.store.createRun({
      tenantId: 'default',
      agent: 'payer',
      input: 'later',
    });
    expect(await keel(['cancel', queued.id])).toMatchObject({
      code: 0,
      stdout: `Run ${queued.id} is cancelled.\n`,
    });
    const unknown = await keel(['cancel', 'run_nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/\[run_not_found\]/);
  }, 180_000);
  it('keel run through the server shows the approval it waits on, and finishes once it is approved', async () => {
    const worker = createWorker({ store: app.store, agents: [payer], logger: silentLogger, pollMs: 20 });
    worker.start();
    try {
      let stdout = '';
      let stderr = '';
      let sawApproval: (id: string) => void = () => {};
      const shown = new Promise<string>((found) => (sawApproval = found));
      const running = main(['run', 'payer', 'pay through the server'], {
        stdout: { write: (text: string) => (stdout += text) },
        stderr: {
          write: (text: string) => {
            stderr += text;
            const id = /keel approvals approve (\S+)/.exec(stderr)?.[1];
            if (id !== undefined) sawApproval(id);
            return true;
          },
        },
        env: { KEEL_DATA_DIR: keelDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH },
        cwd: keelDir,
        signal: new AbortController().signal,
      });
      const id = await Promise.race([
        shown,
        running.then((code) => Promise.reject(new Error(`keel run exited ${code}: ${stderr}`))),
      ]);
      expect(stderr).toContain('approval needed: transfer {"amount":500}');
      expect(stderr).toContain('waiting for the decision');
      expect((await keel(['approvals', 'approve', id])).code).toBe(0);
      expect(await running).toBe(0);
      expect(stdout).toBe('tool said: {"done":500}\n');
    } finally {
      await worker.stop();
    }
  }, 180_000);
});
