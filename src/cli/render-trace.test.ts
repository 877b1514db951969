import { describe, expect, it } from 'vitest';
import { renderVersionChange } from './render-trace.js';

describe('renderVersionChange', () => {
  it('names both versions, the first step of the new one, and what changed', () => {
    expect(
      renderVersionChange({
        from: 'agent:aaaaaaaaaaaa',
        to: 'agent:bbbbbbbbbbbb',
        at_seq: 3,
        at: '2026-12-06T12:00:00.000Z',
        instructions_changed: true,
        tools_added: ['search'],
        tools_removed: ['lookup', 'fetch'],
        model_changed: { from: 'openai:gpt-4o-mini', to: 'openai:gpt-4o' },
      }),
    ).toBe(
      'agent:aaaaaaaaaaaa → agent:bbbbbbbbbbbb from #3 · instructions changed · tools added: search · ' +
        'tools removed: lookup, fetch · model openai:gpt-4o-mini → openai:gpt-4o',
    );
  });

  it('lists only what changed', () => {
    expect(
      renderVersionChange({
        from: 'agent:aaaaaaaaaaaa',
        to: 'agent:cccccccccccc',
        at_seq: 0,
        at: '2026-12-06T12:00:00.000Z',
        instructions_changed: false,
        tools_added: [],
        tools_removed: [],
        model_changed: null,
      }),
    ).toBe('agent:aaaaaaaaaaaa → agent:cccccccccccc from #0');
  });
});
