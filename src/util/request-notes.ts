import type { IncomingMessage } from 'node:http';

/** What a request's log line names, noted by whoever learns it (its id, its verified caller). */
export interface RequestNotes {
  requestId?: string;
  tenantId?: string;
  keyId?: string;
}

const notes = new WeakMap<IncomingMessage, RequestNotes>();

/** Adds to what is noted about `request` (the API's and the gateway's handlers do). */
export function noteRequest(request: IncomingMessage, note: RequestNotes): void {
  const current = notes.get(request);
  if (current === undefined) notes.set(request, { ...note });
  else Object.assign(current, note);
}

/** What was noted about `request`. */
export function requestNotesOf(request: IncomingMessage): RequestNotes {
  return notes.get(request) ?? {};
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The caller's own `x-request-id`, when it is one Keel echoes (1-128 of `[A-Za-z0-9_.:-]`). */
export function echoedRequestId(request: IncomingMessage): string | undefined {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : undefined;
}
