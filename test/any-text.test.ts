import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createAnalytics } from '../src/analytics/analytics-store.js';
import { showCommand } from '../src/cli/commands/inspect.js';
import { createApiKeys } from '../src/gateway/api-keys.js';
import { openStore } from '../src/journal/open-store.js';
import type { SqlClient } from '../src/journal/sql-client.js';
import type { JournalStore } from '../src/journal/store.js';
import { createScriptedModel } from '../src/model/builtin-model.js';
import { createOpenAICompatibleModel } from '../src/model/providers/openai/adapter.js';
import { defineAgent } from '../src/runtime/agent.js';
import { runAgent } from '../src/runtime/run-agent.js';
import { createWorker, type Worker } from '../src/runtime/worker.js';
import { createServer } from '../src/server/create-server.js';
import { createRunFeedback } from '../src/feedback/feedback.js';
import { createRunOutcomes } from '../src/feedback/outcomes.js';
import { createFakeOpenAIServer, type FakeOpenAIServer } from '../src/testing/fake-openai-server.js';
import { createTestSchemaName, describePostgres } from '../src/testing/postgres.js';
import { defineTool } from '../src/tools/tool.js';
import { silentLogger } from '../src/util/logger.js';

/**
 * Issue 8, "any text survives": NUL and lone surrogates in a run's input, a model's answer (streamed),
 * its tool-call arguments and a tool's result. Postgres refuses them in text and jsonb; the run
 * must complete anyway and every read (the API's JSON, the event stream, runAgent) return the
 * exact text. Strings are compared exactly: the wire JSON carries "\ud800" escapes, which
 * JSON.parse turns back into the same lone surrogate.
 */
const HOSTILE = 'nul[\u0000] high[\ud800] low[\udc00] pair[😀] marker[\ufdd0] 漢字 "q" \\ end';
const ARGUMENT = 'arg\u0000\udbff!';
const TOOL_SUFFIX = '|tool\u0000\udfff';

const echoText = defineTool({
  name: 'echo_text',
  description: 'Returns the text it is given, with a suffix.',
  input: z.object({ text: z.string() }),
  run: ({ text }) => ({ echoed: text + TOOL_SUFFIX, [`key\u0000${text}`]: true }),
});

/** The two answers of a run: a tool call with hostile arguments, then a streamed hostile answer. */
function script(upstream: FakeOpenAIServer) {
  upstream.enqueue({
    content: `thinking ${HOSTILE}`,
    toolCalls: [{ id: 'call_1', name: 'echo_text', arguments: { text: ARGUMENT } }],
  });
  // Slow enough that the worker journals several slices while it streams.
  upstream.enqueue({ content: HOSTILE, chunkSize: 3, delayMs: 15 });
}

interface OpenedStore {
  store: JournalStore;
  client: SqlClient;
  schema: string;
  close(): Promise<void>;
}

function anyTextSuite(open: () => Promise<OpenedStore>) {
  let upstream: FakeOpenAIServer;
  let opened: OpenedStore;
  let worker: Worker;
  let server: ReturnType<typeof createServer>;
  let url: string;
  let key: string;

  const agent = () =>
    defineAgent({
      name: 'hostile',
      instructions: 'Echo with the tool.',
      model: createOpenAICompatibleModel({ model: 'gpt-4o-mini', apiKey: 'sk-test', baseURL: upstream.url }),
      tools: [echoText],
    });

  beforeAll(async () => {
    upstream = await createFakeOpenAIServer();
    opened = await open();
    const apiKeys = createApiKeys({ client: opened.client, schema: opened.schema });
    key = (await apiKeys.create({ tenantId: 'default', scopes: ['admin'] })).key;
    worker = createWorker({
      store: opened.store,
      agents: [agent()],
      logger: silentLogger,
      journalTextDeltas: true,
      pollMs: 50,
    });
    worker.start();
    server = createServer({
      store: opened.store,
      agents: new Map([['hostile', agent()]]),
      logger: silentLogger,
      apiKeys,
      outcomes: createRunOutcomes({ client: opened.client, schema: opened.schema }),
      feedback: createRunFeedback({ client: opened.client, schema: opened.schema }),
      analytics: createAnalytics({ client: opened.client, schema: opened.schema }),
      eventPollIntervalMs: 20,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await worker?.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await opened?.close();
    await upstream?.close();
  });

  const call = (path: string, init: RequestInit = {}) =>
    fetch(url + path, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    });

  it('completes a run whose answer, tool arguments and tool result carry NUL and lone surrogates; the API returns them exactly', async () => {
    script(upstream);
    const input = { question: `echo ${HOSTILE}`, [`odd key \u0000\ud800`]: ['\udc00'] };
    const submitted = await call('/v1/runs?wait=20', {
      method: 'POST',
      body: JSON.stringify({ agent: 'hostile', input, metadata: { note: '\u0000' } }),
    });
    expect(submitted.status).toBe(200);
    const ended = (await submitted.json()) as { id: string; status: string; output: unknown; error: unknown };
    expect(ended.error).toBeNull();
    expect(ended.status).toBe('completed');
    expect(ended.output).toBe(HOSTILE);

    const run = (await (await call(`/v1/runs/${ended.id}`)).json()) as Record<string, unknown>;
    expect(run).toMatchObject({ status: 'completed', output: HOSTILE, input, metadata: { note: '\u0000' } });

    const steps = (
      (await (await call(`/v1/runs/${ended.id}/steps?outputs=true`)).json()) as {
        data: Array<{ kind: string; name: string; output: unknown; status: string }>;
      }
    ).data;
    expect(steps.map((step) => [step.kind, step.status])).toEqual([
      ['model', 'completed'],
      ['tool', 'completed'],
      ['model', 'completed'],
    ]);
    const [first, tool, last] = steps;
    expect(first?.output).toMatchObject({
      message: {
        content: `thinking ${HOSTILE}`,
        toolCalls: [{ id: 'call_1', name: 'echo_text', arguments: JSON.stringify({ text: ARGUMENT }) }],
      },
    });
    expect(tool?.output).toEqual({ echoed: ARGUMENT + TOOL_SUFFIX, [`key\u0000${ARGUMENT}`]: true });
    expect(last?.output).toMatchObject({ message: { content: HOSTILE } });

    // The model saw the run's input and the tool's result exactly.
    const requests = upstream.requests.filter((request) => request.path.endsWith('/chat/completions'));
    const sent = requests.at(-1)!.body as { messages: Array<{ role: string; content: string }> };
    expect(JSON.parse(sent.messages.find((message) => message.role === 'user')!.content)).toEqual(input);
    const toolMessage = sent.messages.find((message) => message.role === 'tool');
    expect(JSON.parse(toolMessage!.content)).toEqual(tool?.output);

    // The event stream's text deltas concatenate to the exact answer, per model step.
    const slices = await opened.store.listTextDeltas(ended.id, { seq: 0, idx: 0 });
    expect(slices.filter((slice) => slice.seq === 2).length).toBeGreaterThan(1);
    const events = await readEvents(`${url}/v1/runs/${ended.id}/events`, key);
    const textOf = (seq: number) =>
      events
        .filter((event) => event.event === 'text-delta')
        .map((event) => event.data as { seq: number; text: string })
        .filter((data) => data.seq === seq)
        .map((data) => data.text)
        .join('');
    expect(textOf(2)).toBe(HOSTILE);
    expect(events.at(-1)).toMatchObject({ event: 'run-end', data: { status: 'completed' } });

    // An outcome's value may carry such text too; recording the same one again is harmless.
    const outcome = { status: 'committed', value: { note: HOSTILE, [HOSTILE]: 1 } };
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const decided = await call(`/v1/runs/${ended.id}/outcome`, {
        method: 'POST',
        body: JSON.stringify(outcome),
      });
      expect(decided.status).toBe(200);
    }
    const withOutcome = (await (await call(`/v1/runs/${ended.id}`)).json()) as { outcome: unknown };
    expect(withOutcome.outcome).toMatchObject(outcome);
  }, 60_000);

  it('carries such text across a session: history sent to the model and GET /v1/sessions/{id}/messages', async () => {
    const sessionId = `s-${Math.random().toString(36).slice(2)}`;
    upstream.enqueue({ content: HOSTILE });
    const first = await call('/v1/runs?wait=20', {
      method: 'POST',
      body: JSON.stringify({ agent: 'hostile', input: `first ${HOSTILE}`, session_id: sessionId }),
    });
    expect(((await first.json()) as { status: string }).status).toBe('completed');
    upstream.enqueue({ content: 'second answer' });
    const second = await call('/v1/runs?wait=20', {
      method: 'POST',
      body: JSON.stringify({ agent: 'hostile', input: 'second', session_id: sessionId }),
    });
    expect(((await second.json()) as { status: string }).status).toBe('completed');

    const sent = upstream.requests.at(-1)!.body as { messages: Array<{ role: string; content: string }> };
    expect(sent.messages.filter((message) => message.role !== 'system')).toEqual([
      { role: 'user', content: `first ${HOSTILE}` },
      { role: 'assistant', content: HOSTILE },
      { role: 'user', content: 'second' },
    ]);
    const messages = (await (await call(`/v1/sessions/${sessionId}/messages`)).json()) as {
      data: Array<{ role: string; content: string }>;
    };
    expect(messages.data.map(({ role, content }) => ({ role, content }))).toEqual([
      { role: 'user', content: `first ${HOSTILE}` },
      { role: 'assistant', content: HOSTILE },
      { role: 'user', content: 'second' },
      { role: 'assistant', content: 'second answer' },
    ]);
  }, 60_000);

  it('still refuses such text in names and ids matched in SQL (agent, session_id)', async () => {
    for (const body of [
      { agent: 'hostile\u0000', input: 'x' },
      { agent: 'hostile', input: 'x', session_id: 's\ud800' },
    ]) {
      const refused = await call('/v1/runs', { method: 'POST', body: JSON.stringify(body) });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    }
  });

  it('returns the exact text from runAgent in process', async () => {
    script(upstream);
    const run = await runAgent({
      store: opened.store,
      agents: [agent()],
      agent: 'hostile',
      input: HOSTILE,
      logger: silentLogger,
      journalTextDeltas: true,
      pollMs: 50,
    });
    expect(run.error).toBeNull();
    expect(run.stopReason).toBe('completed');
    expect(run.output).toBe(HOSTILE);
    expect(run.input).toBe(HOSTILE);
  }, 60_000);
}

/** Reads an event stream until it ends (the run has ended, so it does). */
async function readEvents(eventsUrl: string, key: string): Promise<Array<{ event: string; data: unknown }>> {
  const response = await fetch(eventsUrl, { headers: { authorization: `Bearer ${key}` } });
  expect(response.status).toBe(200);
  const raw = await response.text();
  return raw
    .split('\n\n')
    .map(
      (block) =>
        Object.fromEntries(
          block
            .split('\n')
            .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]),
        ) as Record<string, string>,
    )
    .filter((fields) => fields.event !== undefined)
    .map((fields) => ({ event: fields.event!, data: JSON.parse(fields.data ?? 'null') as unknown }));
}

describe('any text survives, keel show --json', () => {
  it('prints the exact input, output and step outputs', async () => {
    const keelDir = await mkdtemp(join(tmpdir(), 'keel-any-text-'));
    try {
      const { store } = await openStore({ dataDir: join(keelDir, 'data'), logger: silentLogger });
      let runId: string;
      try {
        const agent = defineAgent({
          name: 'scripted',
          instructions: 'Answer.',
          model: createScriptedModel({ replies: [HOSTILE] }),
        });
        ({ id: runId } = await runAgent({
          store,
          agents: [agent],
          agent: 'scripted',
          input: HOSTILE,
          logger: silentLogger,
        }));
      } finally {
        await store.close();
      }
      let stdout = '';
      const code = await showCommand(
        { runId, json: true },
        {
          stdout: { write: (text: string) => (stdout += text) },
          stderr: { write: () => true },
          env: { KEEL_DATA_DIR: keelDir },
          cwd: keelDir,
          signal: new AbortController().signal,
        },
      );
      expect(code).toBe(0);
      const shown = JSON.parse(stdout) as {
        input: unknown;
        output: unknown;
        steps: Array<{ output: unknown }>;
      };
      expect(shown.input).toBe(HOSTILE);
      expect(shown.output).toBe(HOSTILE);
      expect(shown.steps[0]?.output).toMatchObject({ message: { content: HOSTILE } });
    } finally {
      await rm(keelDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('any text survives, on PGlite', () => {
  anyTextSuite(async () => {
    const { store, client } = await openStore({ dataDir: 'memory://', logger: silentLogger });
    return { store, client, schema: 'keel', close: () => store.close() };
  });
});

describePostgres('any text survives, on Postgres', (databaseUrl) => {
  anyTextSuite(async () => {
    const schema = createTestSchemaName();
    const { store, client } = await openStore({
      databaseUrl,
      schema,
      logger: silentLogger,
      maxConnections: 4,
    });
    return {
      store,
      client,
      schema,
      close: async () => {
        await client.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await store.close();
      },
    };
  });
});
