/**
 * The travel planner with a gateway in front of a fake OpenAI server (`FAKE_OPENAI_URL`, started
 * by the test) and a spend breaker: the config of the Gateway page's browser test.
 */
import { defineConfig } from 'keel';
import { travelPlanner } from '../../../examples/travel-planner/agent.js';

export default defineConfig({
  agents: [travelPlanner],
  gateway: {
    deployments: [
      {
        name: 'fake-openai',
        provider: 'openai',
        model: 'gpt-4o-mini',
        baseURL: process.env.FAKE_OPENAI_URL ?? 'http://127.0.0.1:9/v1',
        apiKeyEnv: 'FAKE_OPENAI_KEY',
      },
    ],
    routes: [{ name: 'fast', deployments: ['fake-openai'] }],
    retry: { attemptsPerDeployment: 1 },
    breaker: { failureThreshold: 1, cooldownMs: 600_000 },
  },
  spendBreakers: [{ scope: 'agent', window: '1h', maxUsd: 5 }],
});
