/**
 * Server-sent events over an authenticated `fetch` (the browser's `EventSource` cannot send an
 * `Authorization` header): reads the stream, splits it into events as the SSE format says
 * (`event:`, `data:` lines, `id:`, blank line ends an event, `:` comments ignored) and hands each
 * to `onEvent`. Resolves when the stream ends; rejects with the API's error when it is refused.
 */
import { authHeaders, readAnswer } from './client';

export interface StreamEvent {
  event: string;
  data: string;
  id?: string;
}

export async function streamEvents(
  path: string,
  {
    signal,
    onEvent,
    lastEventId,
  }: { signal: AbortSignal; onEvent(event: StreamEvent): void; lastEventId?: string },
): Promise<void> {
  const response = await fetch(path, {
    headers: {
      ...authHeaders(),
      accept: 'text/event-stream',
      ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
    },
    signal,
  });
  if (!response.ok || response.body === null) {
    await readAnswer(response);
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let event: Partial<StreamEvent> & { data?: string } = {};
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (event.data !== undefined)
          onEvent({
            event: event.event ?? 'message',
            data: event.data,
            ...(event.id === undefined ? {} : { id: event.id }),
          });
        event = {};
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const text = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event.event = text;
      else if (field === 'data') event.data = event.data === undefined ? text : `${event.data}\n${text}`;
      else if (field === 'id') event.id = text;
    }
  }
}
