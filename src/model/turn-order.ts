/**
 * The order of one assistant turn's items, as a provider answered it. A turn is kept as its
 * reasoning blocks, its text and its calls; OpenAI's items (`openai_item` blocks) also keep their
 * `position` among the answer's output items, so that a reasoning item that came after the text
 * (a model's preamble) or between calls goes back in its place: OpenAI refuses a reasoning item
 * not followed by the item it led to.
 */

/** Something placed at a position of the turn, or anywhere (`position` left out: first). */
export interface Placed<T> {
  position?: number;
  value: T;
}

/**
 * The turn in order: items without a position first, then the placed ones at their positions,
 * and the others (`rest`: the text, then the calls, in their order) in the places left between
 * them. A placed value of `undefined` holds its place and is left out (an item that cannot go
 * back still had its place in the answer).
 */
export function layoutTurn<T>(placed: readonly Placed<T | undefined>[], rest: readonly T[]): T[] {
  const out: T[] = [];
  const keep = (value: T | undefined) => {
    if (value !== undefined) out.push(value);
  };
  for (const item of placed) if (item.position === undefined) keep(item.value);
  const ordered = placed
    .filter((item): item is Placed<T | undefined> & { position: number } => item.position !== undefined)
    .sort((left, right) => left.position - right.position);
  let next = 0;
  let fill = 0;
  for (let slot = 0; next < ordered.length || fill < rest.length; slot++) {
    const candidate = ordered[next];
    if (candidate !== undefined && (candidate.position <= slot || fill >= rest.length)) {
      keep(candidate.value);
      next++;
    } else keep(rest[fill++]);
  }
  return out;
}
