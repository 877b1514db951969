import { describe, expect, it } from 'vitest';
import { ESCAPE_MARKER } from './storable-json.js';
import { PACKED_META_KEY, packStepMeta, unpackStepMeta } from './step-meta-codec.js';

/** What the driver gives back for stored JSON text: the parsed value. */
const roundTrip = (name: string, meta: Record<string, unknown>) =>
  unpackStepMeta(name, JSON.parse(packStepMeta(name, meta)) as unknown);

const modelMeta = {
  provider: 'openai',
  model: 'gpt-4o-mini',
  tools: ['search'],
  finishReason: 'tool_calls',
  priced: true,
  priceTable: '2026-11-01',
  usageSource: 'reported',
  envelope: {
    promptVersion: 'code:0123456789ab',
    deployment: null,
    cached: false,
    toolCalls: [{ id: 'call_1', name: 'search' }],
    guards: [],
    retrievedContextIds: [],
  },
};

describe('step meta codec', () => {
  it("stores a model step's meta without its provider, model and default envelope entries", () => {
    const stored = JSON.parse(packStepMeta('openai:gpt-4o-mini', modelMeta)) as Record<string, unknown>;
    expect(stored).toEqual({
      [PACKED_META_KEY]: 1 | 2 | 4 | 8 | 16,
      tools: ['search'],
      finishReason: 'tool_calls',
      priced: true,
      priceTable: '2026-11-01',
      usageSource: 'reported',
      envelope: { promptVersion: 'code:0123456789ab', toolCalls: [{ id: 'call_1', name: 'search' }] },
    });
    expect(roundTrip('openai:gpt-4o-mini', modelMeta)).toEqual(modelMeta);
  });

  it('keeps every entry that differs from what it would be restored to', () => {
    const meta = {
      ...modelMeta,
      model: 'gpt-4o',
      envelope: { ...modelMeta.envelope, deployment: 'eu', cached: true, guards: [{ verdict: 'allow' }] },
    };
    // The name does not match provider:model, so both stay; only retrievedContextIds is left out.
    const stored = JSON.parse(packStepMeta('openai:gpt-4o-mini', meta)) as Record<string, unknown>;
    expect(stored[PACKED_META_KEY]).toBe(16);
    expect(stored).toMatchObject({ provider: 'openai', model: 'gpt-4o' });
    expect(roundTrip('openai:gpt-4o-mini', meta)).toEqual(meta);
  });

  it('restores exactly what was left out: absent entries stay absent', () => {
    const metas: Record<string, unknown>[] = [
      {},
      { toolCallId: 'call_1', effect: 'none' },
      { provider: 'openai', tools: [] },
      { envelope: { promptVersion: null } },
      { envelope: { cached: false } },
      { envelope: null, provider: 'a:b', model: 'c' },
      { provider: 'openai', model: 'm:with:colons', envelope: { guards: [], deployment: 'x' } },
    ];
    for (const meta of metas) {
      expect(roundTrip('a:b:c', meta)).toEqual(meta);
      expect(roundTrip('openai:m:with:colons', meta)).toEqual(meta);
    }
    // A provider with a colon cannot be split back from the name: it is kept.
    const colon = { provider: 'a:b', model: 'c' };
    expect(JSON.parse(packStepMeta('a:b:c', colon))).toEqual(colon);
    expect(roundTrip('a:b:c', colon)).toEqual(colon);
  });

  it('reads metas stored before packing (no marker) as they are, escaped keys included', () => {
    expect(unpackStepMeta('openai:gpt-4o-mini', { tools: [] })).toEqual({ tools: [] });
    expect(unpackStepMeta('x', null)).toBeNull();
    // A meta key that starts with the marker's first character is stored escaped, never as the marker.
    const meta = { [PACKED_META_KEY]: 1, [`${ESCAPE_MARKER}x`]: 'y', provider: 'p', model: 'm' };
    const stored = JSON.parse(packStepMeta('p:m', meta)) as Record<string, unknown>;
    expect(Object.keys(stored).filter((key) => key === PACKED_META_KEY)).toHaveLength(1);
    expect(stored[PACKED_META_KEY]).toBe(1);
    expect(unpackStepMeta('p:m', stored)).toEqual(meta);
  });
});
