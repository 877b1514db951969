/**
 * Budget under concurrency, with real processes: 200 runs submitted at once share one dollar
 * budget of tenant `acme` (period `total`), executed by two `keel worker` processes (dist/, as
 * deployed) whose agent calls gpt-4o-mini over the wire on a fake OpenAI server that reports its
 * usage, each call spending every output token it was granted (the worst case a reservation must
 * cover). The budget affords about half the runs. While they run, the test samples the budget:
 * spent + reserved never passes the limit. At the end the settled spend is within the limit (and
 * uses it up to less than one call), nothing is reserved, and every run either completed or
 * ended with stop reason `budget`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBudgetStore, type BudgetStore } from '../../src/budgets/budget-store.js';
import { openStore } from '../../src/journal/open-store.js';
import type { SqlClient } from '../../src/journal/sql-client.js';
import type { JournalStore } from '../../src/journal/store.js';
import type { Message } from '../../src/model/model.js';
import { costOf } from '../../src/model/prices.js';
import { estimateRequestTokens } from '../../src/model/token-estimate.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { describePostgres } from '../../src/testing/postgres.js';
import { assertBuilt, createKeelProcesses, createTestDatabase, waitFor } from '../keel-processes.js';

const CONFIG = fileURLToPath(new URL('./budget-processes.config.mjs', import.meta.url));
const RUNS = 200;
const MAX_OUTPUT_TOKENS = 400;
const INSTRUCTIONS = 'Answer in one line.'; // as in the config
const PROVIDER_DELAY_MS = 100;

/** The prompt tokens of a call, counted as Keel reserves them (gpt-4o-mini's tokenizer, exact). */
function promptTokensOf(messages: Message[]): number {
  return estimateRequestTokens({ messages }, { model: 'gpt-4o-mini' });
}

function costOfCall(inputTokens: number, outputTokens: number): number {
  return costOf({ provider: 'openai', modelId: 'gpt-4o-mini', usage: { inputTokens, outputTokens } })!;
}

describePostgres('budgets: 200 runs, one tenant budget, two worker processes', (connectionString) => {
  const keel = createKeelProcesses();
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let store: JournalStore;
  let client: SqlClient;
  let budgets: BudgetStore;
  let provider: FakeOpenAIServer;
  let inFlight = 0;
  let peakCalls = 0;

  beforeAll(async () => {
    assertBuilt();
    database = await createTestDatabase(connectionString);
    ({ store, client } = await openStore({ databaseUrl: database.url, maxConnections: 6 }));
    budgets = createBudgetStore({ client });
    // A provider that answers after a short delay (so many calls are in flight at once) and
    // reports the exact prompt count and every output token the call was allowed.
    provider = await createFakeOpenAIServer({
      handler: async ({ body }) => {
        inFlight++;
        peakCalls = Math.max(peakCalls, inFlight);
        try {
          await sleep(PROVIDER_DELAY_MS);
        } finally {
          inFlight--;
        }
        const request = body as { messages: Message[]; max_completion_tokens: number };
        return {
          content: 'ok',
          usage: {
            promptTokens: promptTokensOf(request.messages),
            completionTokens: request.max_completion_tokens,
          },
        };
      },
    });
  }, 60_000);

  afterAll(async () => {
    await keel.killAll();
    await store?.close();
    await provider?.close();
    await database?.drop();
  }, 60_000);

  it('settled spend stays within the budget and spent + reserved never passes it', async () => {
    // Every run's call costs the same (inputs of the same token count); the budget affords 100.
    const inputs = Array.from({ length: RUNS }, (_, index) => `request ${String(index).padStart(3, '0')}`);
    const promptTokens = promptTokensOf([
      { role: 'system', content: INSTRUCTIONS },
      { role: 'user', content: inputs[0]! },
    ]);
    const callUsd = costOfCall(promptTokens, MAX_OUTPUT_TOKENS);
    const limitUsd = Number((callUsd * (RUNS / 2)).toFixed(8));

    const env = {
      DATABASE_URL: database!.url,
      FAKE_OPENAI_URL: provider.url,
      BUDGET_LIMIT_USD: String(limitUsd),
      MAX_OUTPUT_TOKENS: String(MAX_OUTPUT_TOKENS),
    };
    const workers = await Promise.all(
      [1, 2].map(() => keel.startWorker(['--config', CONFIG, '--concurrency', '8'], env)),
    );
    const owners = workers.map(
      (worker) => worker.lines.find((line) => line.msg === 'worker started')!.owner as string,
    );
    const budget = (await budgets.list('acme')).find((candidate) => candidate.scope === 'tenant');
    expect(budget?.limitUsd).toBe(limitUsd);

    // Sampled while the runs run: the most the budget ever had spent + reserved.
    let sampling = true;
    let peakCommittedUsd = 0;
    let peakReservedUsd = 0;
    let samples = 0;
    /** The workers seen holding leases on the runs. */
    const leaseOwners = new Set<string>();
    const sampler = (async () => {
      while (sampling) {
        const usage = (await budgets.get('acme', budget!.id))!.usage;
        peakCommittedUsd = Math.max(peakCommittedUsd, usage.spentUsd + usage.reservedUsd);
        peakReservedUsd = Math.max(peakReservedUsd, usage.reservedUsd);
        const leased = await client.query<{ lease_owner: string }>(
          'SELECT DISTINCT lease_owner FROM keel.runs WHERE lease_owner IS NOT NULL',
        );
        for (const row of leased.rows) leaseOwners.add(row.lease_owner);
        samples++;
        await sleep(5);
      }
    })();

    const started = Date.now();
    const runIds = (
      await Promise.all(inputs.map((input) => store.createRun({ tenantId: 'acme', agent: 'spender', input })))
    ).map(({ run }) => run.id);
    expect(new Set(runIds).size).toBe(RUNS);

    const outcomes = async () => {
      const { rows } = await client.query<{ stop_reason: string | null; count: number }>(
        'SELECT stop_reason, count(*)::int AS count FROM keel.runs GROUP BY stop_reason',
      );
      return Object.fromEntries(rows.map((row) => [row.stop_reason ?? 'unfinished', row.count]));
    };
    let ended: Record<string, number>;
    try {
      ended = await waitFor('every run ended', outcomes, (byReason) => !byReason.unfinished, 50_000, 100);
    } finally {
      sampling = false;
      await sampler;
    }
    const elapsedMs = Date.now() - started;

    const usage = (await budgets.get('acme', budget!.id))!.usage;
    const { rows } = await client.query<{ cost: number }>(
      "SELECT coalesce(sum(cost_usd), 0)::float8 AS cost FROM keel.runs WHERE tenant_id = 'acme'",
    );
    const runsCostUsd = rows[0]!.cost;
    console.log(
      JSON.stringify({
        limitUsd,
        callUsd,
        settledUsd: usage.spentUsd,
        runsCostUsd,
        peakCommittedUsd,
        peakReservedUsd,
        samples,
        peakConcurrentCalls: peakCalls,
        providerCalls: provider.requests.length,
        outcomes: ended,
        elapsedMs,
      }),
    );

    expect(samples).toBeGreaterThan(10);
    // Both processes executed runs.
    expect([...leaseOwners].sort()).toEqual([...owners].sort());
    expect(peakReservedUsd).toBeGreaterThan(0);
    expect(peakCommittedUsd).toBeLessThanOrEqual(limitUsd + 1e-9);
    expect(usage.reservedUsd).toBe(0);
    expect(usage.spentUsd).toBeLessThanOrEqual(limitUsd + 1e-9);
    // The budget is used up to less than one call: reservations hold, they do not waste it.
    expect(usage.spentUsd).toBeGreaterThan(limitUsd - callUsd);
    // What the budget counted is what the runs cost.
    expect(runsCostUsd).toBeCloseTo(usage.spentUsd, 9);
    expect(Object.keys(ended).sort()).toEqual(['budget', 'completed']);
    expect(ended.completed! + ended.budget!).toBe(RUNS);
    // About half afford their call (a last one may fit narrowed, with fewer output tokens).
    expect(ended.completed).toBeGreaterThanOrEqual(RUNS / 2 - 1);
    expect(ended.completed).toBeLessThanOrEqual(RUNS / 2 + 1);
    // A run stopped by the budget never reached the provider.
    expect(provider.requests.length).toBe(ended.completed);
    const stopped = await client.query<{ error: { code?: string; message?: string } }>(
      "SELECT error FROM keel.runs WHERE stop_reason = 'budget' LIMIT 1",
    );
    expect(stopped.rows[0]!.error.code).toBe('budget_exhausted');
    expect(stopped.rows[0]!.error.message).toContain(budget!.id);
  }, 90_000);
});
