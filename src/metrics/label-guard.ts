/** The label value that stands for every value past a label's cap. */
export const OTHER_LABEL_VALUE = 'other';

/** Longest label value kept; longer ones are cut (a name is a name, not a payload). */
const MAX_LABEL_LENGTH = 100;

/**
 * Bounds one label's cardinality: the first `maxValues` distinct values pass as they are, every
 * later one becomes `other`. Agent, tool, deployment and route names come from configuration,
 * but a model can call a tool that does not exist and a config can grow: a time series per
 * name must never grow without bound (each one costs Prometheus memory for as long as it lives).
 */
export function createLabelGuard(maxValues: number): (value: string) => string {
  const known = new Set<string>();
  return (value) => {
    if (known.has(value)) return value;
    const kept = value.length > MAX_LABEL_LENGTH ? value.slice(0, MAX_LABEL_LENGTH) : value;
    if (known.has(kept)) return kept;
    if (known.size >= maxValues) return OTHER_LABEL_VALUE;
    known.add(kept);
    return kept;
  };
}

/**
 * A metric's children (cells) by one label value, each made once, so the hot path looks its
 * child up instead of building a label set. Values pass through `guard` first, so the cache is
 * as bounded as the label.
 */
export function childrenBy<Child>(
  guard: (value: string) => string,
  make: (value: string) => Child,
): (value: string) => Child {
  const children = new Map<string, Child>();
  return (value) => {
    const label = guard(value);
    let child = children.get(label);
    if (child === undefined) children.set(label, (child = make(label)));
    return child;
  };
}

/** {@link childrenBy} for two labels. */
export function childrenBy2<Child>(
  guards: readonly [(value: string) => string, (value: string) => string],
  make: (first: string, second: string) => Child,
): (first: string, second: string) => Child {
  const [guardFirst, guardSecond] = guards;
  const children = new Map<string, Map<string, Child>>();
  return (first, second) => {
    const a = guardFirst(first);
    const b = guardSecond(second);
    let row = children.get(a);
    if (row === undefined) children.set(a, (row = new Map()));
    let child = row.get(b);
    if (child === undefined) row.set(b, (child = make(a, b)));
    return child;
  };
}

/** {@link childrenBy} for three labels. */
export function childrenBy3<Child>(
  guards: readonly [(value: string) => string, (value: string) => string, (value: string) => string],
  make: (first: string, second: string, third: string) => Child,
): (first: string, second: string, third: string) => Child {
  const [guardFirst, guardSecond, guardThird] = guards;
  const rows = new Map<string, (second: string, third: string) => Child>();
  return (first, second, third) => {
    const a = guardFirst(first);
    let row = rows.get(a);
    if (row === undefined)
      rows.set(a, (row = childrenBy2([guardSecond, guardThird], (b, c) => make(a, b, c))));
    return row(second, third);
  };
}

/** A guard for labels whose values are a known small set: anything else is `other`. */
export function fixedValues(values: readonly string[]): (value: string) => string {
  const allowed = new Set(values);
  return (value) => (allowed.has(value) ? value : OTHER_LABEL_VALUE);
}
