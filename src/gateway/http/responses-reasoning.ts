/**
 * A model's reasoning carried through a caller of another wire format, in Keel's own envelopes,
 * so that the caller hands it back on its next turn and it reaches the provider unchanged:
 *
 * - Anthropic's blocks (signed `thinking`, `redacted_thinking`) as the `encrypted_content` of a
 *   Responses `reasoning` item. A Responses caller that asks for
 *   `include: ["reasoning.encrypted_content"]` with `store: false` (Codex does) hands the item
 *   back, and the blocks reach an Anthropic deployment as Anthropic requires in a tool loop with
 *   thinking on. The envelope is `keel.reasoning.v1.` and base64 JSON of the blocks: not
 *   encrypted (Anthropic's thinking text is the caller's to read anyway; the signature inside is
 *   what Anthropic checks). An `encrypted_content` of anyone else is OpenAI's, carried as it is
 *   (an `openai_item` block, read by the OpenAI Responses adapter).
 * - OpenAI's Responses items (a `reasoning` item, a hosted tool's call) as the `data` of a
 *   Messages `redacted_thinking` block, for a Messages caller (Claude Code) served by an OpenAI
 *   Responses deployment: `keel.openai-item.v1.` and base64 JSON of the item. Claude Code hands
 *   redacted thinking back untouched, and the item goes back to OpenAI as it came.
 *
 * Providers that cannot read a block drop it (docs/gateway.md).
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

const ITEM_PREFIX = 'keel.openai-item.v1.';

type OpenAIItemBlock = Extract<ReasoningBlock, { type: 'openai_item' }>;

const openAIItemEnvelope = z.object({
  item: z.looseObject({ type: z.string().min(1), id: z.string().optional() }),
  position: z.number().int().nonnegative().optional(),
});

/** An OpenAI Responses item (and its place in its turn) as a `redacted_thinking` block's `data`. */
export function encodeOpenAIItem({ item, position }: OpenAIItemBlock): string {
  return ITEM_PREFIX + Buffer.from(JSON.stringify({ item, position })).toString('base64');
}

/** The block of a `redacted_thinking` block's `data` Keel wrote, or undefined for Anthropic's own. */
export function decodeOpenAIItem(data: string): OpenAIItemBlock | undefined {
  if (!data.startsWith(ITEM_PREFIX)) return undefined;
  const json = parseJson(Buffer.from(data.slice(ITEM_PREFIX.length), 'base64').toString('utf8'));
  if (!json.ok) return undefined;
  const parsed = openAIItemEnvelope.safeParse(json.value);
  if (!parsed.success) return undefined;
  const { item, position } = parsed.data;
  return { type: 'openai_item', item, ...(position === undefined ? {} : { position }) };
}

/** A reasoning block as a Messages caller receives it: OpenAI's items in a `redacted_thinking` envelope. */
export function toMessagesReasoning(block: ReasoningBlock): Exclude<ReasoningBlock, OpenAIItemBlock> {
  return block.type === 'openai_item' ? { type: 'redacted_thinking', data: encodeOpenAIItem(block) } : block;
}

/** A Messages `redacted_thinking` block's content as the block it stands for. */
export function fromRedactedThinking(data: string): ReasoningBlock {
  return decodeOpenAIItem(data) ?? { type: 'redacted_thinking', data };
}
