/**
 * A completed step's meta as stored: without the entries its row already says or that hold the
 * default value (migration 31, docs/decisions/2026-12-06-storage-footprint.md). Every model
 * step's meta repeated its provider and model (its name is `<provider>:<model>`) and four
 * envelope entries that are nearly always the same (`deployment: null`, `cached: false`,
 * `guards: []`, `retrievedContextIds: []`): ~120 of its ~400 bytes of jsonb.
 *
 * Lossless: the stored meta carries a marker entry whose value says which entries were left out,
 * and reading puts exactly those back, so `StepRecord.meta` (the API, traces, cassettes, replay)
 * is what was written. The marker's key is U+FDD0 followed by `d`: `toStorableJson` stores every
 * key of the meta that starts with U+FDD0 as U+FDD0 followed by a JSON string literal (a `"`),
 * so no key of a meta can be stored as the marker. Metas stored without a marker (written before
 * migration 31, or by a started step) read as they are.
 *
 * Only completions are packed: `completeStep` replaces a step's meta whole, while the writes of a
 * started step merge metas in SQL (`||`), which would mix two markers.
 */
import { fromStorableJson, toStorableJson } from './storable-json.js';

/** The marker entry's key (see above). */
export const PACKED_META_KEY = '\ufdd0d';

/** Bits of the marker's value: the entries left out. */
const PROVIDER_MODEL = 1;
const ENVELOPE_DEFAULTS = [
  { bit: 2, key: 'deployment', value: null },
  { bit: 4, key: 'cached', value: false },
  { bit: 8, key: 'guards', value: [] },
  { bit: 16, key: 'retrievedContextIds', value: [] },
] as const;

type Meta = Record<string, unknown>;

function isPlainObject(value: unknown): value is Meta {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDefault(value: unknown, fallback: null | false | readonly never[]): boolean {
  return Array.isArray(fallback) ? Array.isArray(value) && value.length === 0 : value === fallback;
}

/**
 * JSON text of a completed step's `meta` for its `jsonb` column (as `toStorableJson` writes it),
 * without what {@link unpackStepMeta} restores from `name` and the defaults.
 */
export function packStepMeta(name: string, meta: Meta): string {
  let bits = 0;
  const packed: Meta = { ...meta };
  const { provider, model } = meta;
  if (
    typeof provider === 'string' &&
    typeof model === 'string' &&
    !provider.includes(':') &&
    name === `${provider}:${model}`
  ) {
    delete packed.provider;
    delete packed.model;
    bits |= PROVIDER_MODEL;
  }
  if (isPlainObject(meta.envelope)) {
    const envelope: Meta = { ...meta.envelope };
    for (const { bit, key, value } of ENVELOPE_DEFAULTS) {
      if (Object.hasOwn(envelope, key) && isDefault(envelope[key], value)) {
        delete envelope[key];
        bits |= bit;
      }
    }
    packed.envelope = envelope;
  }
  const text = toStorableJson(packed);
  if (bits === 0) return text;
  // The marker goes in after escaping (toStorableJson would escape its key like any other).
  return `{${JSON.stringify(PACKED_META_KEY)}:${bits}${text === '{}' ? '' : ','}${text.slice(1)}`;
}

/**
 * A step's meta as the driver parsed it from `jsonb`, decoded (`fromStorableJson`) and with the
 * entries {@link packStepMeta} left out put back. `name` is the step's decoded name.
 */
export function unpackStepMeta(name: string, stored: unknown): Meta | null {
  if (!isPlainObject(stored) || !Object.hasOwn(stored, PACKED_META_KEY))
    return fromStorableJson(stored as Meta | null);
  const { [PACKED_META_KEY]: marker, ...rest } = stored;
  const bits = Number(marker);
  const meta = fromStorableJson(rest);
  const unpacked: Meta = { ...meta };
  if (bits & PROVIDER_MODEL) {
    const separator = name.indexOf(':');
    unpacked.provider = name.slice(0, separator);
    unpacked.model = name.slice(separator + 1);
  }
  if (isPlainObject(meta.envelope)) {
    const envelope: Meta = { ...meta.envelope };
    for (const { bit, key, value } of ENVELOPE_DEFAULTS)
      if (bits & bit) envelope[key] = Array.isArray(value) ? [] : value;
    unpacked.envelope = envelope;
  }
  return unpacked;
}
