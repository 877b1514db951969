// The 500-turn conversation of the storage benchmark, generated deterministically: each turn is
// a user message, a model call that asks for one `search` tool call, the tool's result, and a
// model reply. 600 bytes of text per turn (user 120, tool arguments 60, tool result 240,
// reply 180), 300,000 bytes (293 KiB) in all.

export const TURNS = 500;
const SIZES = { user: 120, query: 60, result: 240, reply: 180 };

// Pseudo-words from syllables: a large vocabulary, so the text compresses about as well as
// natural language does (Postgres compresses large values), not better.
const SYLLABLES = (
  'ka to ri ne sa mu lo pe di va chi ron tel mar bis qua fen dro lin gas hup wex ost ber ' +
  'yal zim cor tha nup sel vid aro mek pol sun'
).split(' ');

function word(next) {
  const n = 1 + Math.floor(next() * 3);
  let w = '';
  for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(next() * SYLLABLES.length)];
  return w;
}

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** `bytes` ASCII characters of words from the generator. */
function text(next, bytes) {
  let out = '';
  while (out.length < bytes) out += (out ? ' ' : '') + word(next);
  return out.slice(0, bytes);
}

/**
 * The turns: [{ user, toolArguments (JSON text), query, toolResult, reply }]. toolArguments is
 * exactly SIZES.query bytes of JSON.
 */
export function conversation(turns = TURNS) {
  const next = rng(42);
  const out = [];
  for (let i = 0; i < turns; i++) {
    const user = text(next, SIZES.user);
    const query = text(next, SIZES.query - '{"query":""}'.length);
    out.push({
      user,
      query,
      toolArguments: JSON.stringify({ query }),
      toolResult: text(next, SIZES.result),
      reply: text(next, SIZES.reply),
    });
  }
  return out;
}

/** Bytes of text in the conversation (user messages, tool arguments and results, replies). */
export function textBytes(turns) {
  return turns.reduce(
    (sum, t) => sum + t.user.length + t.toolArguments.length + t.toolResult.length + t.reply.length,
    0,
  );
}
