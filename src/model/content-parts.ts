/**
 * Helpers over a user message's content (`string | ContentPart[]`), for code that reads text:
 * guards, redaction, token estimates, scripted models.
 */
import type { CacheControl, ContentPart, Message } from './model.js';

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

/**
 * The text part before a tool result's images and files on wires whose tool results take text
 * alone (chat completions, the AI SDK): they follow the results in a user message, each result's
 * media after the words naming its call.
 */
export function toolMediaCaption({ name, toolCallId }: { name: string; toolCallId: string }): string {
  return `Attached to the result of ${name} (${toolCallId}):`;
}

/**
 * A tool result's text on those wires: its text parts, or, for a result of media alone, where the
 * media went (see {@link toolMediaCaption}).
 */
export function toolResultText(content: string | readonly ContentPart[]): string {
  const text = contentText(content);
  if (text === '' && mediaParts(content).length > 0) return 'The result is attached in the next message.';
  return text;
}

/** A `data:` URL's media type and base64 payload; undefined for any other URL. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  if (match === null) return undefined;
  return { mediaType: match[1] as string, data: match[2] as string };
}

/**
 * Parts that are all unmarked text become one string, as content was before parts existed (so a
 * plain request hashes and is sent as it always was); anything else stays parts.
 */
export function compactContent(parts: ContentPart[]): string | ContentPart[] {
  if (parts.every((part) => part.type === 'text' && part.cacheControl === undefined))
    return contentText(parts);
  return parts;
}

/**
 * A wire's `cache_control` (`{type: 'ephemeral', ttl?}`, Anthropic's and the OpenRouter/LiteLLM
 * one on chat parts) as the member a part or message carries: none when unmarked.
 */
export function cacheMarkOf(mark: CacheControl | undefined): { cacheControl?: CacheControl } {
  if (mark === undefined) return {};
  return {
    cacheControl: mark.ttl === undefined ? { type: 'ephemeral' } : { type: 'ephemeral', ttl: mark.ttl },
  };
}

/** File extensions of the document types providers read, for a file sent without a name. */
const EXTENSIONS: Readonly<Record<string, string>> = {
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'text/markdown': 'md',
  'text/csv': 'csv',
  'text/html': 'html',
  'application/json': 'json',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
};

/**
 * The name a file goes by when its part has none: OpenAI asks for one with inline file data and
 * reads the type from its extension, so a text file must not be called `document.pdf`.
 */
export function defaultFilename(mediaType: string): string {
  return `document.${EXTENSIONS[mediaType.toLowerCase()] ?? 'bin'}`;
}
