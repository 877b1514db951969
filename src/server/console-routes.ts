/**
 * Routes the console needs besides the API it shows: who the caller is (`GET /v1/me`, so the app
 * shows only what the key's scopes allow), and the exchange of a one-time sign-in link for a
 * short-lived key (`POST /v1/console/session`, see `console-login.ts`).
 */
import { KeelError } from '../errors/keel-error.js';
import { API_KEY_SCOPES } from '../gateway/api-keys.js';
import { sendJson } from './http-io.js';
import { defineRoute, errorResponses } from './route-table.js';
import {
  consoleLinkResponse,
  consoleSessionRequest,
  consoleSessionResponse,
  meResponse,
} from './console-schemas.js';

const loginDisabled = () =>
  new KeelError({
    code: 'console_login_disabled',
    message: 'This server issues no sign-in links: sign in with an API key.',
    fault: 'caller',
  });

export const consoleRoutes = [
  defineRoute({
    method: 'GET',
    path: '/v1/me',
    scopes: API_KEY_SCOPES,
    summary: 'The calling key: its tenant, name, scopes and expiry',
    responses: { 200: { description: 'The key', schema: meResponse }, ...errorResponses(401) },
    handle({ response, key }) {
      sendJson(response, 200, {
        key_id: key.id,
        tenant_id: key.tenantId,
        name: key.name,
        prefix: key.prefix,
        scopes: key.scopes,
        expires_at: key.expiresAt?.toISOString() ?? null,
      });
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/console/session',
    scopes: [],
    summary: 'Exchange a one-time console sign-in link for a short-lived API key',
    description:
      'The token is the `login` value in the link `keel serve` prints on the embedded default. It works once, for 15 minutes; the key it buys expires after 12 hours.',
    body: consoleSessionRequest,
    responses: {
      201: { description: 'The session key (shown once)', schema: consoleSessionResponse },
      ...errorResponses(400, 401, 404),
    },
    async handle({ response, body, dependencies: { consoleLogin } }) {
      if (consoleLogin === undefined) throw loginDisabled();
      const { token } = await body();
      const { key, record } = await consoleLogin.exchange(token);
      sendJson(response, 201, {
        key,
        key_id: record.id,
        tenant_id: record.tenantId,
        scopes: record.scopes,
        expires_at: record.expiresAt?.toISOString() ?? null,
      });
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/console/links',
    scopes: ['admin'],
    summary: "A new one-time console sign-in link for the caller's tenant (`keel console`)",
    description:
      'The link (`/#login=<token>` on this server) works once, for 15 minutes, and only on this process; its session is an admin key of the same tenant as the caller.',
    responses: {
      201: { description: 'The link', schema: consoleLinkResponse },
      ...errorResponses(401, 403, 404),
    },
    handle({ response, key, dependencies: { consoleLogin } }) {
      if (consoleLogin === undefined) throw loginDisabled();
      // The session gets the caller's tenant and no scope the caller lacks.
      const scopes = key.scopes.filter((scope) => scope === 'admin' || scope === 'metrics');
      const { token, expiresAt } = consoleLogin.issue({
        tenantId: key.tenantId,
        scopes,
        actor: `key:${key.id}`,
      });
      sendJson(response, 201, {
        path: `/#login=${token}`,
        tenant_id: key.tenantId,
        expires_at: expiresAt.toISOString(),
      });
    },
  }),
];
