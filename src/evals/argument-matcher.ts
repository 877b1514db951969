import { isDeepStrictEqual } from 'node:util';

/**
 * How a suite says what a tool argument must be: a plain value (deep-equal), `{ regex }`,
 * `{ contains }` (substring, or array element), or `{ any: true }` (present, any value).
 */
export type ArgumentMatcher =
  { regex: string; flags?: string } | { contains: unknown } | { any: true } | unknown;

/** Matchers by argument name. Only the names listed are checked; other arguments may be anything. */
export type ArgumentMatchers = Record<string, ArgumentMatcher>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function matcherKind(matcher: unknown): 'regex' | 'contains' | 'any' | 'value' {
  if (!isPlainObject(matcher)) return 'value';
  const keys = Object.keys(matcher);
  if (keys.includes('regex') && keys.every((key) => key === 'regex' || key === 'flags')) return 'regex';
  if (keys.length === 1 && keys[0] === 'contains') return 'contains';
  if (keys.length === 1 && keys[0] === 'any' && matcher.any === true) return 'any';
  return 'value';
}

/** Why a matcher can never be used (a regex that does not compile), or null when it can. */
export function checkMatcher(matcher: unknown): string | null {
  if (matcherKind(matcher) !== 'regex') return null;
  const { regex, flags } = matcher as { regex: unknown; flags?: unknown };
  if (typeof regex !== 'string') return 'regex must be a string';
  if (flags !== undefined && typeof flags !== 'string') return 'flags must be a string';
  try {
    new RegExp(regex, flags);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Null when `value` satisfies `matcher`, else why not. */
export function matchArgument(matcher: unknown, value: unknown): string | null {
  switch (matcherKind(matcher)) {
    case 'any':
      return value === undefined ? 'is missing' : null;
    case 'regex': {
      const { regex, flags } = matcher as { regex: string; flags?: string };
      if (typeof value !== 'string') return `is not a string (regex ${regex})`;
      return new RegExp(regex, flags).test(value)
        ? null
        : `${JSON.stringify(value)} does not match /${regex}/`;
    }
    case 'contains': {
      const needle = (matcher as { contains: unknown }).contains;
      if (typeof value === 'string' && typeof needle === 'string') {
        return value.includes(needle)
          ? null
          : `${JSON.stringify(value)} does not contain ${JSON.stringify(needle)}`;
      }
      if (Array.isArray(value)) {
        return value.some((item) => isDeepStrictEqual(item, needle))
          ? null
          : `does not contain ${JSON.stringify(needle)}`;
      }
      return `cannot contain ${JSON.stringify(needle)} (not a string or array)`;
    }
    case 'value':
      return isDeepStrictEqual(value, matcher)
        ? null
        : `is ${value === undefined ? 'missing' : JSON.stringify(value)}, expected ${JSON.stringify(matcher)}`;
  }
}

/** Null when every listed argument matches, else the first mismatch (`city: "Rome" ...`). */
export function matchArguments(matchers: ArgumentMatchers | undefined, args: unknown): string | null {
  if (matchers === undefined) return null;
  const actual = isPlainObject(args) ? args : {};
  for (const [name, matcher] of Object.entries(matchers)) {
    const problem = matchArgument(matcher, actual[name]);
    if (problem) return `${name} ${problem}`;
  }
  return null;
}
