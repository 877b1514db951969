/**
 * Routes on another wire than the API's (the gateway's OpenAI and Anthropic endpoints), in the
 * route table of the HTTP API (`server/route-table.ts`) or alone (`keel gateway`): their types,
 * and their mounting on Hono. Hono's router matches the raw path; the route's hooks run (ids,
 * auth/limits, the body read within its limit while the key is verified), then its handler; any
 * error is answered in the route's format.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import type { ApiKeyScope } from '../gateway/api-keys.js';
import { HttpRequestError } from './http-errors.js';
import { readJsonBody } from './http-io.js';

/** What Hono's node adapter hands every handler as `c.env`. */
export interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
}

/** Answers a request of a wire route (true), or leaves it alone (false). */
export type WireListener = (request: IncomingMessage, response: ServerResponse) => boolean;

/**
 * The wire format of a route's errors, every one of them (401, 403, 404, 405, 413...): the API's
 * own `Error` body, or a provider's wire (the gateway's OpenAI and Anthropic endpoints).
 */
export type ErrorFormat = 'api' | 'openai' | 'anthropic';

/** One request of a {@link WireRoute}, once its auth/limits hook let it through. */
export interface WireContext<Caller> {
  request: IncomingMessage;
  response: ServerResponse;
  /** The raw path, as the client sent it (never normalised or decoded). */
  path: string;
  /** The caller the route's `authorize` hook returned. */
  caller: Caller;
  /** The JSON body, read within the route's body limit (routes with `body: 'json'`). */
  body: unknown;
  /** Aborted when the client goes away before the answer ended. */
  signal: AbortSignal;
  requestId: string;
  /** A fresh id of Keel's own, for the answer's id. */
  answerId: string;
}

/**
 * A route on another wire than the API's (the gateway's): its errors are in its own format
 * (`errors`), and its auth/limits hook replaces the API's edges: `authorize` verifies the key by
 * the route's own rules (its scopes, per-key rpm/tpm for the call), the body is read within the
 * route's own limit, and the API's request timeout does not apply (a completion has its own
 * time budget, the gateway's). Its path is matched verbatim (`/v1//chat/completions` is not it);
 * every method reaches the table, a method it lacks answers 405 in its format.
 */
export interface WireRoute<Caller = unknown> {
  method: 'GET' | 'POST';
  /** Hono's syntax; `/*` at the end takes every path under it. */
  path: string;
  errors: Exclude<ErrorFormat, 'api'>;
  /** For the OpenAPI document: what `authorize` asks of a key. */
  scopes: readonly ApiKeyScope[];
  summary: string;
  /** `json`: the body is read (within the table's body limit) while `authorize` runs. */
  body?: 'json';
  handle(context: WireContext<Caller>): Promise<void>;
}

/** Routes on another wire, with the hooks they share: their auth/limits and their error answers. */
export interface WireTable<Caller = unknown> {
  routes: readonly WireRoute<Caller>[];
  /** Larger bodies answer 413 in the route's format. */
  maxBodyBytes: number;
  /** The auth/limits hook: the caller of a request (its key verified, its limits attached). */
  authorize(request: IncomingMessage, errors: Exclude<ErrorFormat, 'api'>): Promise<Caller>;
  /** The request's ids (its `x-request-id`, and a fresh one for the answer). */
  begin(request: IncomingMessage): { requestId: string; answerId: string };
  /** Answers `error` in `errors`' format (or cuts a response already under way). */
  sendError(
    response: ServerResponse,
    errors: Exclude<ErrorFormat, 'api'>,
    requestId: string,
    error: unknown,
  ): void;
}

/** A table of wire routes only (`keel gateway`): the same routes, matched by the same router. */
export function createWireListener(wire: WireTable): WireListener {
  return mountWire(new Hono<{ Bindings: NodeBindings }>(), wire, () => {
    throw new Error('A wire route is only served through its listener.');
  });
}

/**
 * Registers the wire routes on `app` (every method: a method a route lacks answers 405 in its
 * format) and returns their listener: Hono's router matches the raw path, the route's hooks run
 * (ids, auth/limits, body limit), then its handler; any error is answered in the route's format.
 */
export function mountWire(
  app: Hono<{ Bindings: NodeBindings }>,
  wire: WireTable,
  viaApiPath: (c: { env: NodeBindings }) => never,
): WireListener {
  const routeOf = new Map<unknown, WireRoute>();
  for (const route of wire.routes) {
    const handler = (c: { env: NodeBindings }): never => viaApiPath(c);
    routeOf.set(handler, route);
    app.all(route.path, handler);
  }
  return (request, response) => {
    const target = request.url ?? '/';
    const query = target.indexOf('?');
    const path = query === -1 ? target : target.slice(0, query);
    const [matches] = app.router.match(request.method ?? 'GET', path);
    let route: WireRoute | undefined;
    for (const [[handler]] of matches) if ((route = routeOf.get(handler)) !== undefined) break;
    if (route === undefined) return false;
    const { requestId, answerId } = wire.begin(request);
    const errors = route.errors;
    serveWireRoute(wire, route, request, response, path, requestId, answerId).catch((error: unknown) =>
      wire.sendError(response, errors, requestId, error),
    );
    return true;
  };
}

async function serveWireRoute(
  wire: WireTable,
  route: WireRoute,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  requestId: string,
  answerId: string,
): Promise<void> {
  const method = request.method ?? 'GET';
  if (method !== route.method)
    throw new HttpRequestError({
      code: 'method_not_allowed',
      message: `${method} is not allowed on ${path}.`,
    });
  const controller = new AbortController();
  let body: Promise<unknown> | undefined;
  if (route.body === 'json') {
    // A caller that goes away (at any point before the answer ended) aborts the route's work.
    response.once('close', () => {
      if (!response.writableFinished) controller.abort(new Error('The client closed the connection.'));
    });
    // The key is checked while the body arrives: one store round trip, not two in a row.
    body = readJsonBody(request, wire.maxBodyBytes);
    body.catch(() => {});
  } else {
    request.resume();
  }
  const caller = await wire.authorize(request, route.errors);
  await route.handle({
    request,
    response,
    path,
    caller,
    body: body === undefined ? undefined : await body,
    signal: controller.signal,
    requestId,
    answerId,
  });
}
