import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { z } from 'zod';
import { UnknownAgentError } from '../errors/config-errors.js';
import { KeelError } from '../errors/keel-error.js';
import { RunNotFoundError } from '../errors/storage-errors.js';
import type { GatewayHandler } from '../gateway/http/gateway-handler.js';
import type { JournalStore } from '../journal/store.js';
import { TERMINAL_STATUSES } from '../journal/types.js';
import type { Agent } from '../runtime/agent.js';
import { sleep } from '../util/sleep.js';
import type { Logger } from '../util/logger.js';
import { toHttpError } from './http-errors.js';
import { runView, stepView } from './run-views.js';

const MAX_BODY_BYTES = 1_000_000;

const createRunBody = z.object({
  agent: z.string().min(1).max(64),
  input: z.unknown().refine((value) => value !== undefined, 'input is required'),
  session_id: z.string().min(1).max(200).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

const listQuery = z.object({
  agent: z.string().max(64).optional(),
  status: z.enum(['queued', 'running', 'waiting', 'completed', 'failed', 'cancelled']).optional(),
  session_id: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().max(500).optional(),
});

export interface ServerOptions {
  store: JournalStore;
  agents: ReadonlyMap<string, Agent>;
  logger: Logger;
  /** Serves the LLM gateway's paths (`/v1/chat/completions`, `/v1/messages`...) when given. */
  gatewayHandler?: GatewayHandler;
}

/**
 * The HTTP API over the journal: submit, list, read and cancel runs. Stateless: every answer
 * comes from the store, so any replica can serve any request. Errors are mapped in one place.
 */
export function createServer({ store, agents, logger, gatewayHandler }: ServerOptions): Server {
  return createHttpServer((request, response) => {
    if (gatewayHandler?.(request, response)) return;
    handle(request, response).catch((error: unknown) => {
      const { status, body } = toHttpError(error);
      if (status >= 500) logger.error('request failed', { method: request.method, url: request.url, status });
      sendJson(response, status, body);
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);
    const method = request.method ?? 'GET';

    if (method === 'GET' && url.pathname === '/healthz') return sendJson(response, 200, { ok: true });
    if (parts[0] !== 'v1' || parts[1] !== 'runs') throw notFound(`No route for ${method} ${url.pathname}.`);

    if (parts.length === 2 && method === 'POST') {
      const body = parseWith(createRunBody, await readJson(request));
      if (!agents.has(body.agent)) throw new UnknownAgentError(body.agent, [...agents.keys()]);
      const idempotencyKey = headerValue(request, 'idempotency-key');
      const { run } = await store.createRun({
        agent: body.agent,
        input: body.input,
        sessionId: body.session_id ?? null,
        metadata: body.metadata ?? {},
        idempotencyKey: idempotencyKey ?? null,
      });
      const waitSeconds = Math.min(Number(url.searchParams.get('wait') ?? 0) || 0, 60);
      if (waitSeconds > 0) {
        const deadline = Date.now() + waitSeconds * 1000;
        for (;;) {
          const current = await store.getRun(run.id);
          if (current && TERMINAL_STATUSES.includes(current.status))
            return sendJson(response, 200, runView(current));
          if (Date.now() >= deadline) return sendJson(response, 202, runView(current ?? run));
          await sleep(100);
        }
      }
      return sendJson(response, 202, { id: run.id, status: run.status });
    }
    if (parts.length === 2 && method === 'GET') {
      const query = parseWith(listQuery, Object.fromEntries(url.searchParams));
      const page = await store.listRuns({
        agent: query.agent,
        status: query.status,
        sessionId: query.session_id,
        limit: query.limit,
        cursor: query.cursor,
      });
      return sendJson(response, 200, { data: page.runs.map(runView), next_cursor: page.nextCursor ?? null });
    }
    const runId = parts[2];
    if (!runId) throw notFound(`No route for ${method} ${url.pathname}.`);
    if (parts.length === 3 && method === 'GET') {
      const run = await store.getRun(runId);
      if (!run) throw new RunNotFoundError(runId);
      return sendJson(response, 200, runView(run));
    }
    if (parts.length === 4 && parts[3] === 'steps' && method === 'GET') {
      if (!(await store.getRun(runId))) throw new RunNotFoundError(runId);
      const steps = await store.loadSteps(runId, { withOutputs: url.searchParams.get('outputs') === 'true' });
      return sendJson(response, 200, { data: steps.map(stepView) });
    }
    if (parts.length === 4 && parts[3] === 'cancel' && method === 'POST') {
      const run = await store.requestCancel(runId);
      if (!run) throw new RunNotFoundError(runId);
      return sendJson(response, 202, runView(run));
    }
    throw notFound(`No route for ${method} ${url.pathname}.`);
  }
}

function notFound(message: string): KeelError {
  return new KeelError({ code: 'not_found', message, fault: 'caller' });
}

function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new KeelError({
        code: 'payload_too_large',
        message: `Body larger than ${MAX_BODY_BYTES} bytes.`,
        fault: 'caller',
      });
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new KeelError({ code: 'invalid_json', message: 'Body is not valid JSON.', fault: 'caller' });
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues
    .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
    .join('; ');
  throw new KeelError({ code: 'invalid_request', message: `Invalid request: ${issues}`, fault: 'caller' });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
