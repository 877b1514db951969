/**
 * Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2^attempt)).
 * Full jitter spreads retries of many clients so they do not stampede a recovering service.
 */
export function fullJitterDelay({
  attempt,
  baseMs = 100,
  capMs = 5_000,
  random = Math.random,
}: {
  attempt: number;
  baseMs?: number;
  capMs?: number;
  random?: () => number;
}): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}
