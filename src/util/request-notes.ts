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
