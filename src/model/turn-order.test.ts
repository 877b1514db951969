import { describe, expect, it } from 'vitest';
import { layoutTurn } from './turn-order.js';

describe('layoutTurn', () => {
  it('puts placed items at their positions and the rest, in order, in the places between', () => {
    // An answer of reasoning, a preamble, reasoning, a call.
    expect(
      layoutTurn(
        [
          { position: 0, value: 'r1' },
          { position: 2, value: 'r2' },
        ],
        ['message', 'call'],
      ),
    ).toEqual(['r1', 'message', 'r2', 'call']);
  });

  it('puts unplaced items first, as a turn read from a caller has them', () => {
    expect(layoutTurn([{ value: 'r1' }, { value: 'ws' }], ['message', 'call'])).toEqual([
      'r1',
      'ws',
      'message',
      'call',
    ]);
  });

  it('keeps the place of an item left out, so the others do not move before it', () => {
    expect(
      layoutTurn(
        [
          { position: 0, value: undefined },
          { position: 2, value: 'r2' },
        ],
        ['message', 'call'],
      ),
    ).toEqual(['message', 'r2', 'call']);
  });

  it('appends what comes after the last place: placed items past the rest, or the rest past them', () => {
    expect(layoutTurn([{ position: 7, value: 'late' }], ['message'])).toEqual(['message', 'late']);
    expect(layoutTurn([{ position: 0, value: 'r' }], ['message', 'call', 'call2'])).toEqual([
      'r',
      'message',
      'call',
      'call2',
    ]);
    expect(layoutTurn([], [])).toEqual([]);
  });
});
