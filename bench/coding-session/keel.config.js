// Config of the Keel gateway the coding-session benchmark starts (through gateway/keel.js):
//   KEEL_BENCH_UPSTREAM_PORT=N MOCK_API_KEY=... node bin/keel.js gateway --port P --config bench/coding-session/keel.config.js
// One Anthropic deployment, the recorded session's fake upstream on 127.0.0.1 (upstream.js), and
// one route named as the model Claude Code was told to use when the session was recorded
// (record.js: `claude-sonnet-4-5`), so the recorded bodies go through unchanged. No agents.
const port = process.env.KEEL_BENCH_UPSTREAM_PORT;
if (!port) throw new Error('KEEL_BENCH_UPSTREAM_PORT is not set (the fake upstream port)');

export default {
  agents: [],
  gateway: {
    deployments: [
      {
        name: 'fake-anthropic',
        provider: 'anthropic',
        model: 'claude-sonnet-4-5',
        baseURL: `http://127.0.0.1:${port}`,
        apiKeyEnv: 'MOCK_API_KEY',
      },
    ],
    routes: [{ name: 'claude-sonnet-4-5', deployments: ['fake-anthropic'] }],
  },
};
