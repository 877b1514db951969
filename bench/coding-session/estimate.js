// Micro-benchmark: the CPU Keel spends counting the prompt tokens of the recorded Claude Code
// session's requests (estimateRequestTokens, what a budget reservation or a tpm limit needs),
// replayed in order like the session sends them, several rounds. Needs `npm run build` (dist/).
// node bench/coding-session/estimate.js [rounds]
import { parseMessagesRequest } from '../../dist/gateway/http/anthropic-format.js';
import { estimateRequestTokens } from '../../dist/model/token-estimate.js';
import { readSession, replayRequests } from './session.js';

const rounds = Number(process.argv[2] ?? 5);
const requests = replayRequests(readSession()).map(
  (r) => parseMessagesRequest(JSON.parse(r.body.toString('utf8')), r.headers).request,
);
const bytes = replayRequests(readSession()).reduce((sum, r) => sum + r.body.length, 0);

// The encoding's rank table loads on first use (80-150 ms): not a per-call cost.
estimateRequestTokens({ messages: [{ role: 'user', content: 'warm-up' }] }, { model: 'claude-sonnet-4-5' });

// Round 1 is the session as a gateway sees it once: each turn resends the previous ones, which
// only the count cache of long texts (since 2026-12-06) does not count again. Later rounds replay
// the same turns (every text counted before).
const times = [];
let tokens = 0;
for (let round = 0; round < rounds; round++) {
  // Fresh copies each round: the gateway parses every body anew (no string is shared across calls).
  const copies = requests.map((request) => JSON.parse(JSON.stringify(request)));
  const started = process.cpuUsage();
  tokens = 0;
  for (const request of copies) tokens += estimateRequestTokens(request, { model: 'claude-sonnet-4-5' });
  const used = process.cpuUsage(started);
  times.push((used.user + used.system) / 1000 / copies.length);
}
console.log(
  `${requests.length} requests, ${(bytes / requests.length / 1024).toFixed(1)} KB avg body, ${tokens} tokens counted per round`,
);
console.log(`CPU ms per request by round: ${times.map((t) => t.toFixed(2)).join(', ')}`);
