/**
 * A line diff of two texts by longest common subsequence (the classic dynamic program), for
 * prompt versions: small texts, so O(n·m) time and memory is fine. Lines common to both are
 * `same`; the others are `removed` (only in the old text) or `added` (only in the new one), in
 * reading order, removals before additions where both replace a block.
 */

/** One line of a diff. */
export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
  /** The line's number in the old text (absent for an added line). */
  oldLine?: number;
  /** The line's number in the new text (absent for a removed line). */
  newLine?: number;
}

/** Beyond this many cells (old lines × new lines) the texts are compared as one replaced block. */
const MAX_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  // A final newline ends the last line; it does not start an empty one.
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The line diff of `before` → `after`. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const old = splitLines(before);
  const next = splitLines(after);
  const rows = old.length;
  const columns = next.length;
  if (rows * columns > MAX_CELLS)
    return [
      ...old.map((text, index) => ({ kind: 'removed' as const, text, oldLine: index + 1 })),
      ...next.map((text, index) => ({ kind: 'added' as const, text, newLine: index + 1 })),
    ];
  // lengths[i][j]: the LCS length of old[i..] and next[j..], in one flat array.
  const width = columns + 1;
  const lengths = new Uint32Array((rows + 1) * width);
  for (let i = rows - 1; i >= 0; i--)
    for (let j = columns - 1; j >= 0; j--)
      lengths[i * width + j] =
        old[i] === next[j]
          ? (lengths[(i + 1) * width + j + 1] ?? 0) + 1
          : Math.max(lengths[(i + 1) * width + j] ?? 0, lengths[i * width + j + 1] ?? 0);
  const diff: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < rows || j < columns) {
    if (i < rows && j < columns && old[i] === next[j]) {
      diff.push({ kind: 'same', text: old[i] as string, oldLine: i + 1, newLine: j + 1 });
      i++;
      j++;
    } else if (
      i < rows &&
      (j >= columns || (lengths[(i + 1) * width + j] ?? 0) >= (lengths[i * width + j + 1] ?? 0))
    ) {
      diff.push({ kind: 'removed', text: old[i] as string, oldLine: i + 1 });
      i++;
    } else {
      diff.push({ kind: 'added', text: next[j] as string, newLine: j + 1 });
      j++;
    }
  }
  return diff;
}

/** How many lines were added and removed. */
export function diffStats(diff: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of diff) {
    if (line.kind === 'added') added++;
    else if (line.kind === 'removed') removed++;
  }
  return { added, removed };
}
