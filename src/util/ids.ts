import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Generates ids; injected so tests can be deterministic. */
export type IdGenerator = (prefix: string) => string;

// Random bytes are drawn in bulk: one randomFillSync per 256 ids instead of one per id (the
// per-call cost showed up in the gateway's profile at thousands of calls a second).
const POOL = Buffer.alloc(16 * 256);
let poolOffset = POOL.length;

function randomBytes16(): Buffer {
  if (poolOffset >= POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const bytes = POOL.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

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
  let randomPart = '';
  for (const byte of randomBytes16()) randomPart += ALPHABET[byte % 32];
  return `${prefix}_${timePart}${randomPart}`;
};
