import { createRequire } from 'node:module';

/** One sample of a family, as `parse-prometheus-text-format` returns it (prom2json's shape). */
export interface ParsedSample {
  labels?: Record<string, string>;
  value?: string;
  /** Histograms: cumulative counts by `le`. */
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}

/** One metric family. */
export interface ParsedFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: ParsedSample[];
}

// The parser ships no types; it throws on any line that is not valid text exposition format.
const parse = createRequire(import.meta.url)('parse-prometheus-text-format') as (
  text: string,
) => ParsedFamily[];

/** A parsed scrape, with look-ups that fail loudly. */
export interface Exposition {
  families: Map<string, ParsedFamily>;
  /** The family, which must exist, of `type`. */
  family(name: string, type?: ParsedFamily['type']): ParsedFamily;
  /** The value of the sample whose labels are exactly `labels` (0 when absent, NaN kept). */
  value(name: string, labels?: Record<string, string>): number;
}

/** Parses the text of a scrape with a real text-format parser. */
export function parseExposition(text: string): Exposition {
  const families = new Map(parse(text).map((family) => [family.name, family]));
  const family = (name: string, type?: ParsedFamily['type']) => {
    const found = families.get(name);
    if (found === undefined) throw new Error(`no metric family ${name} in the scrape`);
    if (type !== undefined && found.type !== type) throw new Error(`${name} is a ${found.type}, not a ${type}`);
    return found;
  };
  return {
    families,
    family,
    value(name, labels = {}) {
      const wanted = JSON.stringify(Object.entries(labels).sort());
      const sample = family(name).metrics.find(
        (candidate) => JSON.stringify(Object.entries(candidate.labels ?? {}).sort()) === wanted,
      );
      return sample?.value === undefined ? 0 : Number(sample.value);
    },
  };
}
