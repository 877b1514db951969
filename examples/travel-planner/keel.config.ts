/**
 * Keel config of the travel planner: `keel serve --config examples/travel-planner/keel.config.ts`.
 * A config file's default export lists the agents the server runs.
 */
import { defineConfig } from 'keel';
import { travelPlanner } from './agent.js';

export default defineConfig({ agents: [travelPlanner] });
