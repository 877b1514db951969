import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Generates ids; injected so tests can be deterministic. */
export type IdGenerator = (prefix: string) => string;

/**
 * Time-ordered ids: `prefix_` + 10 chars of milliseconds + 16 random chars (Crockford base32,
 * lowercase). Sorting ids sorts by creation time, which keeps index inserts local.
 */
export const createId: IdGenerator = (prefix) => {
  let time = Date.now();
  let timePart = '';
  for (let i = 0; i < 10; i++) {
    timePart = ALPHABET[time % 32] + timePart;
    time = Math.floor(time / 32);
  }
  const random = randomBytes(16);
  let randomPart = '';
  for (const byte of random) randomPart += ALPHABET[byte % 32];
  return `${prefix}_${timePart}${randomPart}`;
};
