#!/usr/bin/env node
// What the built-in guards cost per step (issue 10: target ≤ 1 ms p50 for a 4 KB message).
//
//   npm run build && node bench/guards/overhead.js
//
// Runs the pipeline of built-in heuristics the way the agent loop runs guards at a tool output
// (the stage where all four apply), in order, each on the text the previous one let through:
// maxLength, promptInjection (heuristics, no classifier), pii (redact), untrustedToolOutput.
// Messages are 4 KB, 300 distinct ones per round (travel-planning prose with a few e-mail
// addresses, phone and card numbers, JSON fragments), each timed on its own. In the same run, the
// floor: one precompiled regex pass over the same text (the least any scanning guard costs), and
// a no-op guard (the cost of the pipeline's await alone). Prints p50 and p99 in µs.
// Settings: KEEL_BENCH_ROUNDS (default 5), KEEL_BENCH_GUARD_MESSAGES (default 300).
import { performance } from 'node:perf_hooks';
import { guards, defineGuard } from '../../dist/index.js';
import { report } from '../lib/child.js';

const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 5);
const MESSAGES = Number(process.env.KEEL_BENCH_GUARD_MESSAGES ?? 300);
const SIZE = 4096;

const sentences = [
  'Day 2 starts at the Mercado da Ribeira, where the food hall opens at ten and the queues are short.',
  'The hotel confirmed the booking for three nights; contact the front desk at reservations@hotel-azul.example.',
  'Tram 28 runs every twelve minutes from Martim Moniz, but it is packed after eleven, so walk up instead.',
  '{"city":"Lisbon","day":3,"activities":["food tour","fado","Belém"],"budgetEur":180}',
  'For changes call +351 21 346 0957 or the concierge on 912 345 678 before 8 pm.',
  'The deposit was charged to the card 4111 1111 1111 1111 and will be released at checkout.',
  'Rain is likely on Thursday afternoon: the tile museum and the covered market are close to each other.',
  'Sunset from the Miradouro da Senhora do Monte is the best in town; bring a jacket, it gets windy.',
];

function messages(round) {
  const list = [];
  for (let index = 0; index < MESSAGES; index++) {
    let text = `Search result ${round}.${index}: `;
    for (let step = index; text.length < SIZE; step += 3)
      text += `${sentences[step % sentences.length]} (${step * 17}) `;
    list.push(text.slice(0, SIZE));
  }
  return list;
}

const pipeline = [
  guards.maxLength({ max: 100_000 }),
  guards.promptInjection(),
  guards.pii({ action: 'redact' }),
  guards.untrustedToolOutput(),
];
const FLOOR_PATTERN = /ignore (?:all )?previous instructions|[\w.+-]+@[\w-]+\.\w+/i;
const floorRegex = [
  defineGuard({
    name: 'regex',
    stage: 'tool_output',
    check: ({ text }) =>
      FLOOR_PATTERN.test(text) ? { action: 'warn', reason: 'match' } : { action: 'allow' },
  }),
];
const floorNoop = [defineGuard({ name: 'noop', stage: 'tool_output', check: () => ({ action: 'allow' }) })];

/** Runs the guards in order, as the loop does: a redact hands its text to the next guard. */
async function runPipeline(list, text) {
  let current = text;
  for (const guard of list) {
    const verdict = await guard.check({ stage: 'tool_output', text: current, toolName: 'web_search' });
    if (verdict.action === 'block') return verdict;
    if (verdict.action === 'redact') current = verdict.text;
  }
  return current;
}

async function time(list, texts, into) {
  for (const text of texts) {
    const started = performance.now();
    await runPipeline(list, text);
    into.push((performance.now() - started) * 1000);
  }
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

const systems = {
  'Keel built-ins (maxLength + promptInjection + pii + untrustedToolOutput)': pipeline,
  'promptInjection alone': [pipeline[1]],
  'pii alone': [pipeline[2]],
  'untrustedToolOutput alone': [pipeline[3]],
  'floor: one regex pass': floorRegex,
  'floor: no-op guard': floorNoop,
};
const samples = Object.fromEntries(Object.keys(systems).map((name) => [name, []]));
for (const list of Object.values(systems)) await time(list, messages(-1).slice(0, 50), []); // warm up
for (let round = 0; round < ROUNDS; round++) {
  const texts = messages(round);
  const names = Object.keys(systems);
  // Rotate the order each round so that a busy spell of the machine weighs on every row.
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + round) % names.length];
    await time(systems[name], texts, samples[name]);
  }
}
const rows = Object.entries(samples).map(([name, values]) => ({
  name,
  p50: percentile(values, 50),
  p99: percentile(values, 99),
}));
const keel = rows[0];
const markdown = [
  '## (g) Guard pipeline overhead',
  '',
  `Per step, ${SIZE} B message, ${ROUNDS} rounds × ${MESSAGES} messages, each timed on its own (Node ${process.version}).`,
  '',
  '| pipeline | p50 µs | p99 µs | target |',
  '| --- | --- | --- | --- |',
  ...rows.map(
    (row) =>
      `| ${row.name} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${
        row === keel ? `p50 ≤ 1000: ${row.p50 <= 1000 ? '**met**' : '**missed**'}` : ''
      } |`,
  ),
].join('\n');
console.log(markdown);
report({ markdown, rows, settings: { size: SIZE, rounds: ROUNDS, messages: MESSAGES } });
