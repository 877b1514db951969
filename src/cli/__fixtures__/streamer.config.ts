import { defineAgent, defineTool, z } from 'keel';

/** A tool the model calls before answering (its step is priced, so the spinner shows a cost). */
const lookup = defineTool({
  name: 'lookup',
  description: 'Looks a word up.',
  input: z.object({ word: z.string() }),
  run: ({ word }) => ({ word, found: true }),
});

/**
 * `streamer` answers with `openai:gpt-4o-mini` (point `OPENAI_BASE_URL` at a fake server that
 * streams slowly): the CLI's live-output tests.
 */
export default {
  agents: [
    defineAgent({ name: 'streamer', instructions: 'Look up, then answer.', model: 'openai:gpt-4o-mini', tools: [lookup] }),
  ],
};
