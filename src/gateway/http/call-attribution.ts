/**
 * Who a gateway call is for: the end user (a developer behind a coding agent) and the session (one
 * conversation of that agent), from what the caller sends, so that budgets of scope `user` and
 * `session` apply to the call and its record (`gateway_calls.user_id`, `session_id`) can be
 * grouped by developer and session. docs/coding-agents.md lists what each client sends.
 *
 * Precedence, first present wins:
 * - user: the `x-keel-user` header (the operator's or the developer's explicit choice), then the
 *   body's own end-user field: OpenAI's `user` (or `safety_identifier`), or Anthropic's
 *   `metadata.user_id` (Claude Code's JSON `{device_id, account_uuid, session_id}` names the
 *   account, else the device; the older `user_<hash>_account_<uuid>_session_<uuid>` the same way;
 *   any other string is the user id as it is), then Codex's installation id (in its
 *   `x-codex-turn-metadata` header).
 * - session: the `x-keel-session` header, then Claude Code's `x-claude-code-session-id`, then
 *   Codex's `session-id` header (`session_id` in earlier versions: its conversation id), then the
 *   session inside Claude Code's `metadata.user_id`, then the one in Codex's turn metadata.
 *
 * An id is 1-200 characters without whitespace or control characters (what a budget's `scope_id`
 * may be). An `x-keel-*` header that is not one is refused (400 `invalid_request`); a client's
 * own field that is not one is not attributed (the next source applies): a client cannot fail a
 * call by what it sends for its own bookkeeping.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isScopeId as isId } from '../../budgets/budget-definition.js';
import { GatewayRequestError } from './gateway-http-errors.js';

/** The end user and the session a call is attributed to (each absent when nothing names it). */
export interface CallAttribution {
  userId?: string;
  sessionId?: string;
}

/** What the body named, as the route's parser read it. */
export interface BodyAttribution {
  /** OpenAI's `user` (chat completions, responses). */
  user?: string | undefined;
  /** Anthropic's `metadata.user_id` (messages). */
  anthropicUserId?: string | null | undefined;
}

/** The ids of Claude Code's `metadata.user_id`, older form: `user_<hash>_account_<uuid or empty>_session_<uuid>`. */
const LEGACY_CLAUDE_USER_ID = /^user_([0-9a-f]+)_account_([0-9a-f-]*)_session_([0-9a-f-]+)$/;

/** Attributes a call; throws `invalid_request` for a malformed `x-keel-user` or `x-keel-session`. */
export function attributeCall(headers: IncomingHttpHeaders, body: BodyAttribution = {}): CallAttribution {
  const anthropic = anthropicIdsOf(body.anthropicUserId);
  const codex = codexIdsOf(headers['x-codex-turn-metadata']);
  const userId =
    explicitHeader(headers, 'x-keel-user') ?? idOrUndefined(body.user) ?? anthropic.userId ?? codex.userId;
  const sessionId =
    explicitHeader(headers, 'x-keel-session') ??
    idOrUndefined(headers['x-claude-code-session-id']) ??
    idOrUndefined(headers['session-id']) ??
    idOrUndefined(headers['session_id']) ??
    anthropic.sessionId ??
    codex.sessionId;
  return {
    ...(userId === undefined ? {} : { userId }),
    ...(sessionId === undefined ? {} : { sessionId }),
  };
}

/** The developer and session of an Anthropic `metadata.user_id`. */
function anthropicIdsOf(value: string | null | undefined): CallAttribution {
  if (typeof value !== 'string') return {};
  const text = value.trim();
  const legacy = LEGACY_CLAUDE_USER_ID.exec(text);
  if (legacy !== null) return defined(legacy[2] || legacy[1], legacy[3]);
  if (text.startsWith('{')) {
    const fields = jsonObjectOf(text);
    if (fields !== undefined) {
      const account = idOrUndefined(fields['account_uuid']);
      const device = idOrUndefined(fields['device_id']);
      if (account !== undefined || device !== undefined || 'session_id' in fields)
        return defined(account ?? device, idOrUndefined(fields['session_id']));
    }
  }
  return defined(text, undefined);
}

/** Codex's `x-codex-turn-metadata` (JSON): its installation and its session. */
function codexIdsOf(header: string | string[] | undefined): CallAttribution {
  if (typeof header !== 'string' || header.length > MAX_TURN_METADATA) return {};
  const fields = jsonObjectOf(header);
  if (fields === undefined) return {};
  return defined(idOrUndefined(fields['installation_id']), idOrUndefined(fields['session_id']));
}

/** Codex's turn metadata is a few hundred bytes; a larger header is not parsed. */
const MAX_TURN_METADATA = 8 * 1024;

function defined(userId: string | undefined, sessionId: string | undefined): CallAttribution {
  const user = idOrUndefined(userId);
  const session = idOrUndefined(sessionId);
  return {
    ...(user === undefined ? {} : { userId: user }),
    ...(session === undefined ? {} : { sessionId: session }),
  };
}

/** A JSON object's fields, or undefined for anything else (the text is the client's, not ours). */
function jsonObjectOf(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A Keel header: absent or empty is nothing; present, it must be an id. */
function explicitHeader(
  headers: IncomingHttpHeaders,
  name: 'x-keel-user' | 'x-keel-session',
): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  const text = (Array.isArray(value) ? value.join(',') : value).trim();
  if (text === '') return undefined;
  if (!isId(text))
    throw new GatewayRequestError({
      code: 'invalid_request',
      message: `${name} must be 1-200 characters without spaces or control characters.`,
      param: name,
    });
  return text;
}

/** A client's own value when it is an id (trimmed), else undefined. */
function idOrUndefined(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return isId(text) ? text : undefined;
}

/** Anthropic's `metadata.user_id` of a Messages body (validated by its parser already). */
export function anthropicUserIdOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const metadata = (body as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const userId = (metadata as { user_id?: unknown }).user_id;
  return typeof userId === 'string' ? userId : undefined;
}
