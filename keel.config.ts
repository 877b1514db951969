/**
 * The project's default config: `npm start` and `npx keel run travel-planner "..."` load it.
 * It serves the reference agent; point `--config` or `KEEL_CONFIG` at your own file.
 */
export { default } from './examples/travel-planner/keel.config.js';
