/**
 * Helpers over a user message's content (`string | ContentPart[]`), for code that reads text:
 * guards, redaction, token estimates, scripted models.
 */
import type { ContentPart, Message } from './model.js';

/** The text of a message's content: the string itself, or its text parts joined with no separator. */
export function contentText(content: string | readonly ContentPart[]): string {
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) if (part.type === 'text') text += part.text;
  return text;
}

/** The text of any message (user content parts reduced to their text). */
export function messageText(message: Message): string {
  return contentText(message.content);
}

/** Applies `map` to every text of a content (the string, or each text part), keeping media parts. */
export function mapContentText(
  content: string | ContentPart[],
  map: (text: string) => string,
): string | ContentPart[] {
  if (typeof content === 'string') return map(content);
  return content.map((part) => (part.type === 'text' ? { ...part, text: map(part.text) } : part));
}

/** The media parts (images and files) of a content; none for a string. */
export function mediaParts(
  content: string | readonly ContentPart[],
): Exclude<ContentPart, { type: 'text' }>[] {
  if (typeof content === 'string') return [];
  return content.filter((part): part is Exclude<ContentPart, { type: 'text' }> => part.type !== 'text');
}

/** A `data:` URL's media type and base64 payload; undefined for any other URL. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  if (match === null) return undefined;
  return { mediaType: match[1] as string, data: match[2] as string };
}
