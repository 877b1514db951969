#!/usr/bin/env node
// What estimating a request's tokens costs (the gateway and the agent loop do it on every call
// whose upstream reports no usage; see docs/decisions/2026-12-05-usage-you-can-trust.md).
//
//   npm run build && node bench/usage/token-estimate.js
//
// Times `estimateRequestTokens` over 300 distinct 2 KB prompts, against the floor: the same
// prompts measured by `length / 4`, the crudest estimate there is. Target: well under 1 ms per
// 2 KB prompt. Settings: KEEL_BENCH_ROUNDS (default 5).
import { performance } from 'node:perf_hooks';
import { estimateRequestTokens } from '../../dist/model/token-estimate.js';

const ROUNDS = Number(process.env.KEEL_BENCH_ROUNDS ?? 5);
const sentences = [
  'The quick brown fox jumps over the lazy dog while the journal records every step.',
  'Überprüfen Sie die Rechnung: 3 × 12,50 € = 37,50 € inklusive MwSt.',
  'Budgets are checked atomically in the shared store, never per replica.',
  'Retry-After: 30; request id req_8f3a91c2, region eu-west-1, attempt 2 of 3.',
  '{"city":"Paris","days":3,"units":"metric","detail":["wind","rain"]}',
  'SELECT id, status FROM runs WHERE lease_expires_at < now() LIMIT 100;',
];

function prompts(round) {
  const list = [];
  for (let index = 0; index < 300; index++) {
    let text = `Prompt ${round}.${index}: `;
    for (let step = index; text.length < 2048; step += 7)
      text += `${sentences[step % sentences.length]} ${step * 31} `;
    list.push(text.slice(0, 2048));
  }
  return list;
}

function time(estimate, list) {
  const started = performance.now();
  let total = 0;
  for (const prompt of list) total += estimate(prompt);
  const perCall = (performance.now() - started) / list.length;
  if (total <= 0) throw new Error('no tokens counted');
  return perCall;
}

const keel = (prompt) => estimateRequestTokens({ messages: [{ role: 'user', content: prompt }] });
const floor = (prompt) => Math.ceil(prompt.length / 4);
keel('warm up');
const results = { keel: [], floor: [] };
for (let round = 0; round < ROUNDS; round++) {
  const list = prompts(round);
  results.floor.push(time(floor, list));
  results.keel.push(time(keel, list));
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log('| estimate (2 KB prompt) | median ms per call | target |');
console.log('| --- | --- | --- |');
console.log(`| Keel \`estimateRequestTokens\` | ${median(results.keel).toFixed(4)} | < 1 |`);
console.log(`| floor: length / 4 | ${median(results.floor).toFixed(4)} | |`);
