// Config of the Keel gateway the gateway benchmark starts (see keel.js):
//   KEEL_BENCH_UPSTREAM_PORT=N MOCK_API_KEY=... node bin/keel.js gateway --port P --config bench/gateway/keel.config.js
// One deployment, the mock OpenAI-compatible upstream on 127.0.0.1 (mock-upstream.js), and one
// route callers name as their model, `gpt-4o-mini`. No agents: only the gateway is measured.
const port = process.env.KEEL_BENCH_UPSTREAM_PORT;
if (!port) throw new Error('KEEL_BENCH_UPSTREAM_PORT is not set (the mock upstream port)');

export default {
  agents: [],
  gateway: {
    deployments: [
      {
        name: 'mock',
        provider: 'openai-compatible',
        model: 'gpt-4o-mini',
        baseURL: `http://127.0.0.1:${port}/v1`,
        apiKeyEnv: 'MOCK_API_KEY',
      },
    ],
    routes: [{ name: 'gpt-4o-mini', deployments: ['mock'] }],
  },
};
