import { createHash } from 'node:crypto';
import type { Message } from '../model/model.js';
import { canonicalJson } from '../util/canonical-hash.js';

/**
 * A running hash of a conversation: each message extends a SHA-256 chain, so the identity of
 * "the whole conversation so far" costs O(1) per new message instead of re-hashing every
 * message at every model call (which made a long run's journal cost quadratic in CPU).
 */
export function createConversationDigest() {
  let digest = '';
  let count = 0;
  return {
    push(...messages: Message[]): void {
      for (const message of messages) {
        digest = createHash('sha256').update(digest).update(canonicalJson(message)).digest('hex');
        count++;
      }
    },
    /** The chain hash and the number of messages it covers. */
    value(): { digest: string; messages: number } {
      return { digest, messages: count };
    },
  };
}
