import { describe, expect, it } from 'vitest';
import { diffStats, lineDiff, type DiffLine } from '../src/components/line-diff.js';

/** The diff as `  same`, `- removed`, `+ added` lines. */
const render = (diff: DiffLine[]) =>
  diff.map((line) => `${line.kind === 'same' ? ' ' : line.kind === 'added' ? '+' : '-'} ${line.text}`);

/** Rebuilds a side of the diff, which must give back the text it was made from. */
const side = (diff: DiffLine[], which: 'old' | 'new') =>
  diff
    .filter((line) => line.kind === 'same' || line.kind === (which === 'old' ? 'removed' : 'added'))
    .map((line) => line.text);

describe('lineDiff', () => {
  it('keeps common lines and marks the changed ones, with line numbers on each side', () => {
    const diff = lineDiff(
      'You plan trips.\nBe brief.\nUse tools.\n',
      'You plan trips.\nBe thorough.\nUse tools.\nCite sources.',
    );
    expect(render(diff)).toEqual([
      '  You plan trips.',
      '- Be brief.',
      '+ Be thorough.',
      '  Use tools.',
      '+ Cite sources.',
    ]);
    expect(diff[1]).toEqual({ kind: 'removed', text: 'Be brief.', oldLine: 2 });
    expect(diff[2]).toEqual({ kind: 'added', text: 'Be thorough.', newLine: 2 });
    expect(diff[3]).toEqual({ kind: 'same', text: 'Use tools.', oldLine: 3, newLine: 3 });
    expect(diffStats(diff)).toEqual({ added: 2, removed: 1 });
  });

  it('handles empty texts, identical texts and CRLF', () => {
    expect(lineDiff('', '')).toEqual([]);
    expect(render(lineDiff('', 'a\nb'))).toEqual(['+ a', '+ b']);
    expect(render(lineDiff('a\nb', ''))).toEqual(['- a', '- b']);
    expect(diffStats(lineDiff('a\r\nb\r\n', 'a\nb'))).toEqual({ added: 0, removed: 0 });
  });

  it('finds a longest common subsequence: both sides rebuild, and the kept lines are as many as can be', () => {
    const before = ['a', 'b', 'c', 'a', 'b', 'b', 'a'];
    const after = ['c', 'b', 'a', 'b', 'a', 'c'];
    const diff = lineDiff(before.join('\n'), after.join('\n'));
    expect(side(diff, 'old')).toEqual(before);
    expect(side(diff, 'new')).toEqual(after);
    // The LCS of these two sequences has 4 elements (e.g. b, a, b, a).
    expect(diff.filter((line) => line.kind === 'same')).toHaveLength(4);
  });

  it('rebuilds both sides of random texts', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      const lines = (n: number) => Array.from({ length: n }, () => 'xyz'[Math.floor(random() * 3)] as string);
      const before = lines(Math.floor(random() * 12));
      const after = lines(Math.floor(random() * 12));
      const diff = lineDiff(before.join('\n'), after.join('\n'));
      expect(side(diff, 'old')).toEqual(before);
      expect(side(diff, 'new')).toEqual(after);
    }
  });
});
