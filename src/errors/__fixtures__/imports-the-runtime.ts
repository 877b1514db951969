// A deliberately wrong import for test/dependency-direction.test.ts: errors/ is at the bottom of
// the layers and must not reach up into the runtime.
import type { Agent } from '../../runtime/agent.js';

export type WrongWay = Agent;
