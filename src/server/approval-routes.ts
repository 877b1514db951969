/**
 * `/v1/approvals`: the human side of tool approvals. A key with the `approvals` (or `admin`)
 * scope lists its tenant's approvals, reads one, and decides a pending one; the decision is
 * recorded with the key that took it (`key:<id>`), and deciding a run's last pending approval
 * queues the run so any worker resumes it. Another tenant's approval answers 404, as one that
 * does not exist; a decision on an approval that is no longer pending answers 409
 * (`approval_not_pending`), except that repeating the same decision with the same key is
 * harmless and answers 200 with the approval unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { ApprovalNotFoundError } from '../errors/approval-errors.js';
import { KeelError } from '../errors/keel-error.js';
import type { ApiKeys, ApiKeyScope } from '../gateway/api-keys.js';
import type { JournalStore } from '../journal/store.js';
import type { ApprovalRecord } from '../journal/types.js';
import { authenticate } from './authenticate.js';
import { decideApprovalRequest, isStorableText, listApprovalsQuery } from './schemas.js';

/** The scopes that allow reading and deciding approvals. */
export const APPROVAL_SCOPES: readonly ApiKeyScope[] = ['approvals', 'admin'];

/** Options of {@link handleApprovalRoute}. */
export interface ApprovalRouteOptions {
  request: IncomingMessage;
  response: ServerResponse;
  url: URL;
  store: JournalStore;
  apiKeys: Pick<ApiKeys, 'verify'>;
  maxBodyBytes: number;
}

/** An approval as the API returns it (snake_case, no tenant). */
export function approvalView(approval: ApprovalRecord) {
  return {
    id: approval.id,
    run_id: approval.runId,
    step_seq: approval.stepSeq,
    tool: approval.tool,
    arguments: approval.arguments,
    status: approval.status,
    reason: approval.reason,
    decided_by: approval.decidedBy,
    requested_at: approval.requestedAt.toISOString(),
    decided_at: approval.decidedAt?.toISOString() ?? null,
    expires_at: approval.expiresAt?.toISOString() ?? null,
  };
}

/**
 * Answers a request whose path starts with `/v1/approvals`. Errors are thrown (the server maps
 * them with `toHttpError`); the method is checked before the key, as for `/v1/runs`.
 */
export async function handleApprovalRoute({
  request,
  response,
  url,
  store,
  apiKeys,
  maxBodyBytes,
}: ApprovalRouteOptions): Promise<void> {
  const parts = url.pathname.split('/').filter(Boolean);
  const method = request.method ?? 'GET';
  const route = `${method} ${url.pathname}`;

  if (parts.length === 2) {
    if (method !== 'GET') throw methodNotAllowed(route);
    const key = await authenticate({ request, apiKeys, scopes: APPROVAL_SCOPES });
    const query = parseWith(listApprovalsQuery, Object.fromEntries(url.searchParams));
    const approvals = await store.listApprovals({
      tenantId: key.tenantId,
      runId: query.run_id,
      status: query.status,
      limit: query.limit,
    });
    return sendJson(response, 200, { data: approvals.map(approvalView) });
  }
  if (parts.length !== 3) throw notFound(`No route for ${route}.`);
  if (method !== 'GET' && method !== 'POST') throw methodNotAllowed(route);
  const key = await authenticate({ request, apiKeys, scopes: APPROVAL_SCOPES });
  const approvalId = decodeId(parts[2]);
  // An id that cannot exist is answered like one that does not.
  if (approvalId === undefined) throw new ApprovalNotFoundError(parts[2] ?? '');

  if (method === 'GET') {
    const approval = await store.getApproval(approvalId, { tenantId: key.tenantId });
    if (!approval) throw new ApprovalNotFoundError(approvalId);
    return sendJson(response, 200, approvalView(approval));
  }
  const body = parseWith(decideApprovalRequest, await readJson(request, maxBodyBytes));
  const decided = await store.decideApproval({
    approvalId,
    tenantId: key.tenantId,
    decision: body.decision,
    reason: body.reason ?? null,
    decidedBy: `key:${key.id}`,
  });
  return sendJson(response, 200, approvalView(decided));
}

function decodeId(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    const decoded = decodeURIComponent(segment);
    return decoded.length > 0 && decoded.length <= 200 && isStorableText(decoded) ? decoded : undefined;
  } catch {
    return undefined;
  }
}

function notFound(message: string): KeelError {
  return new KeelError({ code: 'not_found', message, fault: 'caller' });
}

function methodNotAllowed(route: string): KeelError {
  return new KeelError({
    code: 'method_not_allowed',
    message: `Method not allowed: ${route}.`,
    fault: 'caller',
  });
}

function invalidRequest(message: string): KeelError {
  return new KeelError({ code: 'invalid_request', message, fault: 'caller' });
}

function tooLarge(maxBodyBytes: number): KeelError {
  return new KeelError({
    code: 'payload_too_large',
    message: `Body larger than ${maxBodyBytes} bytes.`,
    fault: 'caller',
  });
}

// The body, validation and answer helpers mirror create-server.ts's (kept private there).
async function readJson(request: IncomingMessage, maxBodyBytes: number): Promise<unknown> {
  const declared = Number(request.headers['content-length']);
  if (declared > maxBodyBytes) throw tooLarge(maxBodyBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) throw tooLarge(maxBodyBytes);
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
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
    .join('; ');
  throw invalidRequest(`Invalid request: ${issues}`);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
