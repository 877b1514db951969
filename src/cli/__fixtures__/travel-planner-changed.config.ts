/** The travel planner with one more instruction: `keel replay` must report where it diverges. */
import { defineAgent, defineConfig } from 'keel';
import { travelPlanner } from '../../../examples/travel-planner/agent.js';

export default defineConfig({
  agents: [defineAgent({ ...travelPlanner, instructions: `${travelPlanner.instructions}\n- Be brief.` })],
});
