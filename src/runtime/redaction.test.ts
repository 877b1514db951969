/**
 * PII-safe storage: with redaction rules, nothing the run stores holds the original values
 * (checked on the database's own text of every table the run writes), while the model sees the
 * originals within the execution unless the agent asks otherwise, and a resumed run replays
 * from the redacted journal without diverging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import type { JournalStore } from '../journal/store.js';
import { createScriptedModel } from '../model/builtin-model.js';
import type { ModelRequest } from '../model/model.js';
import { defineTool } from '../tools/tool.js';
import { createJsonLogger, silentLogger } from '../util/logger.js';
import { defineAgent, type AgentOptions } from './agent.js';
import { redactValue, redactorOf, runRedactor } from './redaction.js';
import { runAgent, waitForRun } from './run-agent.js';
import { createWorker } from './worker.js';

const SECRET_MAIL = 'ann.smith@example.org';
const SECRET_PHONE = '+1 415 555 0199';
const maskMail = (text: string) => text.replace(/[\w.+-]+@[\w-]+\.[\w.]+/g, '[EMAIL]');
const maskPhone = (text: string) => text.replace(/\+1 \d{3} \d{3} \d{4}/g, '[PHONE]');

let store: JournalStore;
let client: SqlClient;
beforeAll(async () => {
  ({ store, client } = await openStore({ dataDir: 'memory://' }));
});
afterAll(() => store.close());

/** Every text the database holds for a run: its row, steps, payloads, approvals (as JSON text). */
async function storedText(runId: string): Promise<string> {
  const tables = [
    `SELECT to_jsonb(r)::text AS t FROM keel.runs r WHERE id = $1`,
    `SELECT to_jsonb(s)::text AS t FROM keel.steps s WHERE run_id = $1`,
    `SELECT to_jsonb(p)::text AS t FROM keel.payloads p WHERE run_id = $1`,
    `SELECT to_jsonb(d)::text AS t FROM keel.text_deltas d WHERE run_id = $1`,
  ];
  const parts: string[] = [];
  for (const sql of tables)
    parts.push(...(await client.query<{ t: string }>(sql, [runId])).rows.map((row) => row.t));
  return parts.join('\n');
}

let counter = 0;
const agentOf = (options: Partial<AgentOptions> & Pick<AgentOptions, 'model'>) =>
  defineAgent({
    name: `redacting-${++counter}`,
    instructions: 'Help.',
    redact: [maskMail, maskPhone],
    ...options,
  });

const contact = defineTool({
  name: 'contact',
  description: 'Looks up a phone number.',
  input: z.object({ email: z.string() }),
  run: ({ email }) => ({ email, phone: SECRET_PHONE }),
});

describe('redaction rules', () => {
  it('combine in order and redact every string of a value, keys kept', () => {
    const redact = redactorOf([maskMail, maskPhone])!;
    expect(redactValue({ [SECRET_MAIL]: [`call ${SECRET_PHONE}`, 3, null] }, redact)).toEqual({
      [SECRET_MAIL]: ['call [PHONE]', 3, null],
    });
    expect(runRedactor(undefined, 'acme', { acme: [maskMail] })!(SECRET_MAIL)).toBe('[EMAIL]');
    expect(runRedactor(undefined, 'other', { acme: [maskMail] })).toBeUndefined();
    expect(() =>
      defineAgent({ name: 'x', instructions: '', model: 'builtin:echo', redact: ['ssn' as 'pii'] }),
    ).toThrow(/redact\[0\]/);
  });

  it('nothing stored holds the originals; the model saw them within the execution', async () => {
    const model = createScriptedModel({
      replies: [
        { toolCalls: [{ name: 'contact', arguments: { email: SECRET_MAIL } }] },
        (request: ModelRequest) => `Reach them at ${request.messages.at(-1)!.content}`,
      ],
    });
    const lines: string[] = [];
    const logger = createJsonLogger({ level: 'debug', write: (line) => lines.push(line) });
    const agent = agentOf({ model, tools: [contact] });
    const result = await runAgent({
      store,
      agents: [agent],
      agent: agent.name,
      input: `Find ${SECRET_MAIL}'s number`,
      logger,
    });
    expect(result.stopReason).toBe('completed');
    // Within the execution the model worked with the original values.
    expect(model.calls[1]!.messages.at(-1)!.content).toContain(SECRET_PHONE);
    expect(result.output).toBe('Reach them at {"email":"[EMAIL]","phone":"[PHONE]"}');
    const text = await storedText(result.id);
    expect(text).toContain('[EMAIL]');
    expect(text).not.toContain(SECRET_MAIL);
    expect(text).not.toContain(SECRET_PHONE);
    expect(text).not.toContain('415 555');
    expect(lines.join('\n')).not.toContain(SECRET_MAIL);
  });

  it("the built-in 'pii' rule keeps e-mails, card numbers and IBANs out of the stored run", async () => {
    const model = createScriptedModel({
      replies: [(request: ModelRequest) => `Noted: ${request.messages.at(-1)!.content}`],
    });
    const agent = defineAgent({ name: `pii-${++counter}`, instructions: 'Help.', model, redact: ['pii'] });
    const card = '4111 1111 1111 1111';
    const iban = 'DE89 3704 0044 0532 0130 00';
    const result = await runAgent({
      store,
      agents: [agent],
      agent: agent.name,
      input: `Pay with ${card} or ${iban}, receipt to ${SECRET_MAIL}`,
      logger: silentLogger,
    });
    const text = await storedText(result.id);
    for (const secret of [card, '4111111111111111', iban, SECRET_MAIL]) expect(text).not.toContain(secret);
    // The input was redacted before it was stored, so the model got the redacted input too.
    expect(model.calls[0]!.messages.at(-1)!.content).not.toContain(card);
  });

  it('redactFromModel: the model, too, sees the redacted outputs', async () => {
    const model = createScriptedModel({
      replies: [
        { toolCalls: [{ name: 'contact', arguments: { email: SECRET_MAIL } }] },
        (request: ModelRequest) => `got ${request.messages.at(-1)!.content}`,
      ],
    });
    const agent = agentOf({ model, tools: [contact], redactFromModel: true });
    await runAgent({ store, agents: [agent], agent: agent.name, input: 'go', logger: silentLogger });
    expect(model.calls[1]!.messages.at(-1)!.content).toBe('{"email":"[EMAIL]","phone":"[PHONE]"}');
  });

  it('a run resumed by another worker replays from the redacted journal without diverging', async () => {
    const hold = { holding: true };
    const holdTool = defineTool({
      name: 'hold',
      description: 'Holds the run.',
      input: z.object({ note: z.string() }),
      effect: 'write',
      run: (_args, context) =>
        hold.holding
          ? new Promise<never>((_resolve, reject) =>
              context.signal.addEventListener('abort', () => reject(context.signal.reason as Error)),
            )
          : 'held',
    });
    const model = createScriptedModel({
      respond: (request: ModelRequest) => {
        const tools = request.messages.filter((message) => message.role === 'tool').length;
        if (tools === 0) return { toolCalls: [{ name: 'contact', arguments: { email: SECRET_MAIL } }] };
        // Values next to JSON escapes (a newline, a tab): redaction must keep the JSON whole.
        if (tools === 1) return { toolCalls: [{ name: 'hold', arguments: { note: `Hi,\n${SECRET_MAIL}` } }] };
        return 'finished';
      },
    });
    const escapes = defineTool({
      name: 'contact',
      description: 'Looks up a contact.',
      input: z.object({ email: z.string() }),
      run: ({ email }) => ({ note: `Contact:\n${email}`, tel: `call\t${SECRET_PHONE}` }),
    });
    const agent = agentOf({ model, tools: [escapes, holdTool] });
    const { run } = await store.createRun({ agent: agent.name, input: 'go', tenantId: 'default' });
    const first = createWorker({
      store,
      agents: [agent],
      logger: silentLogger,
      drainTimeoutMs: 50,
      pollMs: 20,
    });
    first.start();
    for (let i = 0; i < 200; i++) {
      if ((await store.loadSteps(run.id)).some((step) => step.name === 'hold')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await first.stop();
    hold.holding = false;
    const second = createWorker({ store, agents: [agent], logger: silentLogger, pollMs: 20 });
    second.start();
    const ended = await waitForRun({ store, runId: run.id, pollMs: 20 });
    await second.stop();
    expect(ended.error).toBeNull();
    expect(ended.stopReason).toBe('completed');
    const text = await storedText(run.id);
    expect(text).not.toContain(SECRET_MAIL);
    expect(text).not.toContain('415 555');
    // The held call ran again on its journaled (redacted) arguments, still valid JSON.
    const steps = await store.loadSteps(run.id);
    expect(steps.find((step) => step.name === 'hold')).toMatchObject({ status: 'completed' });
  });

  it('keeps JSON text JSON: strings next to escapes are redacted one by one', () => {
    const redact = redactorOf(['pii'])!;
    const args = JSON.stringify({ body: `Hi,\n${SECRET_MAIL}`, tel: `call\t${SECRET_PHONE}`, n: 4155550100 });
    const redacted = redact(args);
    expect(JSON.parse(redacted)).toEqual({ body: 'Hi,\n[EMAIL]', tel: 'call\t[PHONE]', n: 4155550100 });
    expect(redact(redacted)).toBe(redacted);
  });
});
