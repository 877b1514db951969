import { matchArguments, type ArgumentMatchers } from './argument-matcher.js';
import type { ScoreResult, Scorer, ScoredToolCall } from './scorer.js';

/** How a trajectory scorer compares tool calls: `strict`, `unordered`, `subset` or `superset`. */
export type TrajectoryMode = 'strict' | 'unordered' | 'subset' | 'superset';

/** An expected tool call: its name and, optionally, matchers for some of its arguments. */
export interface ExpectedToolCall {
  name: string;
  arguments?: ArgumentMatchers;
}

function matches(expected: ExpectedToolCall, actual: ScoredToolCall): boolean {
  return expected.name === actual.name && matchArguments(expected.arguments, actual.arguments) === null;
}

function describe(call: { name: string; arguments?: unknown }): string {
  return call.arguments === undefined ? call.name : `${call.name}(${JSON.stringify(call.arguments)})`;
}

/** `tool_called`: the tool was called (with matching arguments) between `min` and `max` times. */
export function createToolCalledScorer({
  name,
  arguments: matchers,
  min,
  max,
}: {
  name: string;
  arguments?: ArgumentMatchers;
  min: number;
  max?: number;
}): Scorer {
  return {
    name: 'tool_called',
    score: ({ toolCalls }) => {
      const count = toolCalls.filter((call) => matches({ name, arguments: matchers }, call)).length;
      const pass = count >= min && (max === undefined || count <= max);
      const range =
        max === undefined ? `at least ${min}` : min === max ? `exactly ${min}` : `${min} to ${max}`;
      const sameName = toolCalls.filter((call) => call.name === name);
      const hint =
        !pass && matchers && sameName.length > count
          ? `; closest mismatch: ${matchArguments(matchers, sameName.find((call) => !matches({ name, arguments: matchers }, call))?.arguments)}`
          : '';
      return {
        pass,
        score: pass ? 1 : 0,
        reason: `${name}${matchers ? ' with matching arguments' : ''} called ${count} time(s), expected ${range}${hint}`,
      };
    },
  };
}

/** Why a call of the same name did not match, so a report shows the argument at fault. */
function nearMiss(expected: ExpectedToolCall, actual: readonly ScoredToolCall[]): string {
  const sameName = actual.filter((call) => call.name === expected.name);
  const problem = sameName
    .map((call) => matchArguments(expected.arguments, call.arguments))
    .find((each) => each !== null);
  if (problem) return ` (${expected.name} was called, but ${problem})`;
  return sameName.length ? ` (${expected.name} was called only ${sameName.length} time(s))` : '';
}

/** A maximum matching of expected to actual calls (Kuhn's algorithm; trajectories are short). */
function maximumMatching(expected: readonly ExpectedToolCall[], actual: readonly ScoredToolCall[]): number[] {
  const actualOwner: number[] = actual.map(() => -1);
  const tryAssign = (e: number, seen: boolean[]): boolean => {
    for (let a = 0; a < actual.length; a += 1) {
      if (seen[a] || !matches(expected[e]!, actual[a]!)) continue;
      seen[a] = true;
      if (actualOwner[a] === -1 || tryAssign(actualOwner[a]!, seen)) {
        actualOwner[a] = e;
        return true;
      }
    }
    return false;
  };
  for (let e = 0; e < expected.length; e += 1)
    tryAssign(
      e,
      actual.map(() => false),
    );
  return actualOwner;
}

/**
 * `trajectory`: compares the run's tool calls with the expected list. `strict`: the same calls in
 * the same order; `unordered`: the same calls in any order; `subset`: every call the agent made
 * is expected (it may skip some); `superset`: every expected call was made (extras allowed).
 * Calls are counted as a multiset: one expected entry matches one actual call.
 */
export function createTrajectoryScorer({
  mode,
  steps: expected,
}: {
  mode: TrajectoryMode;
  steps: readonly ExpectedToolCall[];
}): Scorer {
  return {
    name: 'trajectory',
    score: ({ toolCalls: actual }): ScoreResult => {
      if (mode === 'strict') {
        let prefix = 0;
        while (
          prefix < expected.length &&
          prefix < actual.length &&
          matches(expected[prefix]!, actual[prefix]!)
        ) {
          prefix += 1;
        }
        const total = Math.max(expected.length, actual.length);
        const pass = prefix === expected.length && prefix === actual.length;
        if (pass) return { pass, score: 1, reason: `the ${total} tool call(s) match in order` };
        const want = expected[prefix];
        const got = actual[prefix];
        return {
          pass,
          score: total === 0 ? 1 : prefix / total,
          reason: `tool call ${prefix + 1}: expected ${want ? describe(want) : 'no more calls'}, got ${got ? describe(got) : 'no call'}`,
        };
      }
      const owner = maximumMatching(expected, actual);
      const matchedActual = owner.filter((e) => e !== -1).length;
      const unmatchedExpected = expected.filter((_, e) => !owner.includes(e));
      const unmatchedActual = actual.filter((_, a) => owner[a] === -1);
      const missing = unmatchedExpected.length
        ? `missing ${unmatchedExpected.map((call) => `${describe(call)}${nearMiss(call, actual)}`).join(', ')}`
        : '';
      const extra = unmatchedActual.length ? `unexpected ${unmatchedActual.map(describe).join(', ')}` : '';
      const checks = {
        unordered: { bad: [missing, extra], total: Math.max(expected.length, actual.length) },
        subset: { bad: [extra], total: actual.length },
        superset: { bad: [missing], total: expected.length },
      }[mode];
      const problems = checks.bad.filter(Boolean);
      const pass = problems.length === 0;
      return {
        pass,
        score: checks.total === 0 ? 1 : matchedActual / checks.total,
        reason: pass
          ? `tool calls match (${mode})`
          : `tool calls do not match (${mode}): ${problems.join('; ')}`,
      };
    },
  };
}
