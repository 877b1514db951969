import type { FakeOpenAIReply } from '../../testing/fake-openai-server.js';

/** The answer `streamer` (streamer.config.ts) gives through {@link streamerScript}. */
export const ANSWER = 'Streaming slowly, piece by piece, the answer arrives.';

/**
 * The fake OpenAI replies of one `streamer` run: a priced tool call (1000 in, 100 out), then
 * {@link ANSWER} in 4-character chunks `delayMs` apart (1200 in, 20 out): $0.000402 in all.
 */
export function streamerScript(delayMs = 120): FakeOpenAIReply[] {
  return [
    {
      toolCalls: [{ name: 'lookup', arguments: { word: 'slow' } }],
      usage: { promptTokens: 1000, completionTokens: 100 },
    },
    { content: ANSWER, chunkSize: 4, delayMs, usage: { promptTokens: 1200, completionTokens: 20 } },
  ];
}
