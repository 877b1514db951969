import { defineAgent, defineTool, z } from 'keel';

const bad = defineTool({
  name: 'has spaces',
  description: 'An invalid tool name.',
  input: z.object({}),
  run: () => null,
});

export default { agents: [defineAgent({ name: 'bad', instructions: 'x', model: 'builtin:echo', tools: [bad] })] };
