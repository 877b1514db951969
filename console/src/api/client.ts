/**
 * The console's one way to the API: same origin, the signed-in key as a bearer token, and every
 * error turned into an {@link ApiError} with the API's stable code and message (a network failure
 * is `network_error`, an answer that is not the API's JSON `bad_response`), so a page can always
 * say what went wrong.
 */
import { currentKey, signalUnauthorized } from './key-store';

/** An error answered by the API (or met on the way), as the console shows it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiRequest {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  /** A key to use instead of the signed-in one (the sign-in form checks a pasted key). */
  key?: string;
}

/** Query string from a record, leaving out undefined and empty values. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** Headers of an authenticated request. */
export function authHeaders(key = currentKey()): Record<string, string> {
  return key === undefined || key === '' ? {} : { authorization: `Bearer ${key}` };
}

/** Calls the API; resolves with its JSON answer (undefined for 204), rejects with an ApiError. */
export async function api<T>(
  path: string,
  { method = 'GET', body, signal, key }: ApiRequest = {},
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        ...authHeaders(key),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network_error', 'The server could not be reached. Is `keel serve` running?');
  }
  return readAnswer<T>(response, key === undefined);
}

/** The JSON of an answer, or the API error it carries. */
export async function readAnswer<T>(response: Response, signedInKey = true): Promise<T> {
  const requestId = response.headers.get('x-request-id') ?? undefined;
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new ApiError(
      response.status,
      'bad_response',
      `The server answered ${response.status} without JSON.`,
      requestId,
    );
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (response.status === 401 && signedInKey) signalUnauthorized();
    throw new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `The server answered ${response.status}.`,
      requestId,
    );
  }
  return json as T;
}
