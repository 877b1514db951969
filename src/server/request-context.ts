import type { IncomingMessage } from 'node:http';
import type { ApiKeyRecord } from '../gateway/api-keys.js';

/** Called by `authenticate` once a request's key is verified and holds the scope. */
export type AuthenticatedHook = (key: ApiKeyRecord) => Promise<void>;

const hooks = new WeakMap<IncomingMessage, AuthenticatedHook>();

/**
 * Registers what happens when `request` is authenticated (the server's request entry uses it to
 * note the key and tenant for the request log and to apply the key's rate limit), so every route
 * that calls `authenticate` gets both without knowing about them.
 */
export function onAuthenticated(request: IncomingMessage, hook: AuthenticatedHook): void {
  hooks.set(request, hook);
}

/** Runs the request's hook, if any; its errors (e.g. rate limited) fail the request. */
export async function notifyAuthenticated(request: IncomingMessage, key: ApiKeyRecord): Promise<void> {
  await hooks.get(request)?.(key);
}
