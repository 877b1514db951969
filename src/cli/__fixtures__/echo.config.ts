import { defineAgent, defineTool, z } from 'keel';

const shout = defineTool({
  name: 'shout',
  description: 'Upper-cases text.',
  input: z.object({ text: z.string() }),
  run: ({ text }) => text.toUpperCase(),
});

export default {
  agents: [defineAgent({ name: 'echo', instructions: 'Repeat the user.', model: 'builtin:echo', tools: [shout] })],
};
