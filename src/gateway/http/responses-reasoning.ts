/**
 * A model's reasoning blocks (Anthropic's signed `thinking` and `redacted_thinking`) as the
 * `encrypted_content` of a Responses `reasoning` item, and back. A Responses caller that asks for
 * `include: ["reasoning.encrypted_content"]` with `store: false` (Codex does) hands the item back
 * on its next turn, and the blocks reach an Anthropic deployment unchanged, as Anthropic requires
 * in a tool loop with thinking on; other providers drop them (docs/gateway.md).
 *
 * The content is Keel's own envelope, `keel.reasoning.v1.` and base64 JSON of the blocks: not
 * encrypted (Anthropic's thinking text is the caller's to read anyway; the signature inside is
 * what Anthropic checks). An `encrypted_content` of anyone else (OpenAI's) decodes to nothing:
 * only OpenAI's Responses service can read it, and no upstream of Keel speaks it.
 */
import { z } from 'zod';
import { parseJson } from '../../model/json.js';
import type { ReasoningBlock } from '../../model/model.js';

const PREFIX = 'keel.reasoning.v1.';

const reasoningBlocks = z.array(
  z.discriminatedUnion('type', [
    z.object({ type: z.literal('thinking'), text: z.string(), signature: z.string() }),
    z.object({ type: z.literal('redacted_thinking'), data: z.string() }),
  ]),
);

/** The blocks as a reasoning item's `encrypted_content`. */
export function encodeReasoning(blocks: readonly ReasoningBlock[]): string {
  return PREFIX + Buffer.from(JSON.stringify(blocks)).toString('base64');
}

/** The blocks of an `encrypted_content` Keel wrote, or undefined for anyone else's. */
export function decodeReasoning(encrypted: string): ReasoningBlock[] | undefined {
  if (!encrypted.startsWith(PREFIX)) return undefined;
  const json = parseJson(Buffer.from(encrypted.slice(PREFIX.length), 'base64').toString('utf8'));
  if (!json.ok) return undefined;
  const parsed = reasoningBlocks.safeParse(json.value);
  return parsed.success && parsed.data.length > 0 ? parsed.data : undefined;
}
