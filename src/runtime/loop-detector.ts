import { hashCanonical } from '../util/canonical-hash.js';

/**
 * Counts tool calls by (tool, canonical arguments). An agent that asks for the very same call
 * `threshold` times is looping: it learned nothing from the earlier identical results.
 */
export function createLoopDetector({ threshold }: { threshold: number }) {
  const counts = new Map<string, number>();
  return {
    /** Records a call; returns true when this call reaches the threshold. */
    record(tool: string, args: unknown): boolean {
      const key = `${tool}:${hashCanonical(args)}`;
      const count = (counts.get(key) ?? 0) + 1;
      counts.set(key, count);
      return count >= threshold;
    },
  };
}
