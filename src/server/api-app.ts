/**
 * Mounts the route table on Hono, for Node's HTTP server. Hono matches the path and method and
 * dispatches; authentication and the scope check run here, once, before any handler (a route
 * declares its scopes, it cannot skip them). Handlers answer on the Node response, so event
 * streams and `?wait` write, flush and notice a hang-up exactly as Node does; Hono's response is
 * then `RESPONSE_ALREADY_SENT`. Errors, thrown anywhere, reach `onError` (the server's one error
 * path); a path no route has answers 404 `not_found`, a method a path lacks 405 (before the key).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { z } from 'zod';
import type { KeelError } from '../errors/keel-error.js';
import type { ApiKeyRecord } from '../gateway/api-keys.js';
import { authenticate } from './authenticate.js';
import { toHttpError } from './http-errors.js';
import { invalidRequest, methodNotAllowed, notFound, parseWith } from './http-io.js';
import { readJsonBody } from '../http/http-io.js';
import { mountWire, type NodeBindings, type WireListener } from '../http/wire-routes.js';
import {
  pathMatches,
  pathParameters,
  type ApiRoute,
  type RouteDependencies,
  type WireTable,
} from './route-table.js';

export type { WireListener } from '../http/wire-routes.js';

/** The parsed target of a request, set before Hono sees it. */
interface Target {
  url: URL;
  /** The path Hono matches: `/v1` paths without empty segments (`/v1//runs/` is `/v1/runs`). */
  path: string;
  segments: string[];
}

/** Options of {@link createApiListener}. */
export interface ApiListenerOptions {
  routes: readonly ApiRoute[];
  dependencies: RouteDependencies;
  /** The server's one error path: answers `error` on `response` (and logs a 5xx). */
  onError(request: IncomingMessage, response: ServerResponse, error: unknown): void;
  /** Routes on another wire (the gateway's), in the same table; see `WireRoute` in `http/wire-routes.ts`. */
  wire?: WireTable | undefined;
}

/** Answers one API request (its URL already parsed); settles once the answer is sent. */
export type ApiListener = ((
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
) => Promise<void>) & {
  /** Answers the request when its raw path and method are a wire route's (true), else false. */
  wire: WireListener;
};

const noQuery = z.object({});
const anyBody = z.unknown();

/** The route table on Hono, as a listener for Node's HTTP server. */
export function createApiListener({ routes, dependencies, onError, wire }: ApiListenerOptions): ApiListener {
  const targets = new WeakMap<IncomingMessage, Target>();
  const targetOf = (request: IncomingMessage): Target => {
    const target = targets.get(request);
    if (target === undefined) throw new Error('API request without a parsed target.');
    return target;
  };
  const app = new Hono<{ Bindings: NodeBindings }>({
    getPath: (_request, options) => targetOf((options?.env as NodeBindings).incoming).path,
  });

  // A wire route is matched on the raw path, before the API's edges (its own hook replaces them);
  // reached through the API's normalised path (`/v1//chat/completions`), it is no route.
  const serveWire =
    wire === undefined
      ? () => false
      : mountWire(app, wire, (c) => {
          throw routeMiss(routes, c.env.incoming.method ?? 'GET', targetOf(c.env.incoming));
        });

  for (const route of routes) {
    const parameterNames = [...pathParameters(route.path)];
    app.on(route.method, route.path, async (c) => {
      const { incoming: request, outgoing: response } = c.env;
      const { url, segments } = targetOf(request);
      const key =
        route.scopes.length === 0 || route.openWhen?.(dependencies) === true
          ? undefined
          : await authenticate({ request, apiKeys: dependencies.apiKeys, scopes: route.scopes });
      const params: Record<string, string> = {};
      for (const [index, name] of parameterNames) params[name] = segments[index] ?? '';
      await route.handle({
        request,
        response,
        url,
        params,
        get key(): ApiKeyRecord {
          if (key === undefined) throw new Error(`${route.method} ${route.path} is public: it has no key.`);
          return key;
        },
        dependencies,
        query: () => parseWith(route.query ?? noQuery, Object.fromEntries(url.searchParams)),
        body: async () =>
          parseWith(route.body ?? anyBody, await readJsonBody(request, dependencies.maxBodyBytes)),
      });
      return RESPONSE_ALREADY_SENT;
    });
  }
  app.notFound((c) => {
    const { incoming: request, outgoing: response } = c.env;
    onError(request, response, routeMiss(routes, request.method ?? 'GET', targetOf(request)));
    return RESPONSE_ALREADY_SENT;
  });
  app.onError((error, c) => {
    onError(c.env.incoming, c.env.outgoing, error);
    return RESPONSE_ALREADY_SENT;
  });

  const listener = getRequestListener(app.fetch, {
    // Keel's own fetch (the gateway's upstream calls) keeps Node's Request and Response.
    overrideGlobalObjects: false,
    // Handlers read the body from the Node request themselves, or leave it (as before Hono).
    autoCleanupIncoming: false,
    hostname: 'localhost',
    // The adapter builds its Request from the Host header: one it cannot parse is a bad request.
    errorHandler: () => errorResponse(invalidRequest('Malformed request URL.')),
  });

  const listen = async (request: IncomingMessage, response: ServerResponse, url: URL) => {
    const segments = url.pathname.split('/').filter(Boolean);
    const target: Target = {
      url,
      path: segments[0] === 'v1' ? `/${segments.join('/')}` : url.pathname,
      segments,
    };
    // Hono answers HEAD with its GET route; this API has no HEAD (405 on a known path, as before).
    if (request.method === 'HEAD') {
      onError(request, response, routeMiss(routes, 'HEAD', target));
      return;
    }
    targets.set(request, target);
    await listener(request, response);
  };
  return Object.assign(listen, { wire: serveWire });
}

/** 404 for a path no route has, 405 for a method the path's routes lack. */
function routeMiss(routes: readonly ApiRoute[], method: string, { url, segments, path }: Target): KeelError {
  const onPath = routes.filter((route) =>
    route.path.startsWith('/v1') ? pathMatches(route.path, segments) : route.path === path,
  );
  const [first] = onPath;
  if (first === undefined) return notFound(`No route for ${method} ${url.pathname}.`);
  return methodNotAllowed(first.scopes.length === 0 ? `${method} on this path` : `${method} ${url.pathname}`);
}

function errorResponse(error: unknown): Response {
  const { status, body, headers } = toHttpError(error);
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
  });
}
