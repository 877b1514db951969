/**
 * The config of the budget-under-concurrency test (budget-processes.test.ts), loaded by two real
 * `keel worker` processes: one `total` dollar budget for tenant `acme`, and an agent on
 * gpt-4o-mini (priced by the built-in table) whose calls go over the wire to the test's fake
 * OpenAI server, each capped at `maxOutputTokens`.
 *
 * Environment: FAKE_OPENAI_URL (the fake's base URL, ending in /v1), BUDGET_LIMIT_USD,
 * MAX_OUTPUT_TOKENS.
 */
import { createOpenAICompatibleModel, defineAgent } from 'keel';

const env = process.env;

export default {
  budgets: [{ scope: 'tenant', scopeId: 'acme', period: 'total', limitUsd: Number(env.BUDGET_LIMIT_USD) }],
  agents: [
    defineAgent({
      name: 'spender',
      instructions: 'Answer in one line.',
      maxOutputTokens: Number(env.MAX_OUTPUT_TOKENS),
      model: createOpenAICompatibleModel({
        model: 'gpt-4o-mini',
        provider: 'openai',
        baseURL: env.FAKE_OPENAI_URL,
        apiKey: 'sk-fake',
      }),
    }),
  ],
};
