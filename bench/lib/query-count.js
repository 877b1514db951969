// Counts SQL round trips: wraps Client.prototype.query of every node-postgres copy the systems
// load (the bench's own, and the one Keel resolves from the root package), so Pool.query and
// Client.query alike are counted. node-postgres has no pipelining: one call, one round trip.
import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let count = 0;
const patched = new Set();

function patch(requireFrom) {
  let pg;
  try {
    pg = createRequire(requireFrom)('pg');
  } catch {
    return;
  }
  const proto = pg.Client?.prototype;
  if (!proto || patched.has(proto)) return;
  patched.add(proto);
  const query = proto.query;
  proto.query = function countedQuery(...args) {
    count++;
    return query.apply(this, args);
  };
}

/** Starts counting (idempotent). Call before the systems open their connections. */
export function installQueryCounter() {
  patch(fileURLToPath(new URL('../package.json', import.meta.url)));
  try {
    patch(realpathSync(fileURLToPath(new URL('../node_modules/keel/package.json', import.meta.url))));
  } catch {
    // Keel not linked: nothing to patch there.
  }
}

export const queryCount = () => count;
