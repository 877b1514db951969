/**
 * Pure PII detectors: where a text holds e-mail addresses, phone numbers, payment card numbers
 * (Luhn-checked), IBANs (mod-97-checked), US social security numbers, API keys and bearer tokens.
 * The `pii` guard and PII-safe storage both use them.
 *
 * Speed and safety: every pattern is compiled once, every repetition is bounded and every
 * candidate start is pinned by a lookbehind, so a scan stays linear in the text's length (an
 * adversarial 100 KB string is scanned in milliseconds). Regexes only find candidates; the checks
 * that need arithmetic (Luhn, mod 97, digit counts) run in code on each candidate.
 */

/** The kinds of PII the detectors find. */
export type PiiEntity = 'email' | 'phone' | 'card' | 'iban' | 'ssn' | 'api_key' | 'bearer_token';

/** The kinds of personal data `detectPii` finds. */
export const PII_ENTITIES: readonly PiiEntity[] = [
  'email',
  'phone',
  'card',
  'iban',
  'ssn',
  'api_key',
  'bearer_token',
];

/** What a found value is replaced with. */
export const PII_REPLACEMENTS: Readonly<Record<PiiEntity, string>> = {
  email: '[EMAIL]',
  phone: '[PHONE]',
  card: '[CARD]',
  iban: '[IBAN]',
  ssn: '[SSN]',
  api_key: '[API_KEY]',
  bearer_token: '[BEARER_TOKEN]',
};

/** One value found: `text.slice(start, end)` is the value. */
export interface PiiSpan {
  entity: PiiEntity;
  start: number;
  end: number;
}

/**
 * When two findings overlap, the more specific one wins: a bearer token or key is a secret
 * whatever digits it holds, a card number is not also a phone number.
 */
const PRIORITY: readonly PiiEntity[] = ['bearer_token', 'api_key', 'email', 'iban', 'card', 'ssn', 'phone'];

/** Finds candidates of one entity; `accept` returns the span within the match, or null. */
interface Detector {
  entity: PiiEntity;
  pattern: RegExp;
  accept(match: RegExpExecArray): { start: number; end: number } | null;
}

const whole = (match: RegExpExecArray) => ({ start: match.index, end: match.index + match[0].length });

const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;

/** A digit run with the separators phone numbers use; validated by `isPhoneNumber`. */
const PHONE =
  /(?<![\w+.\-/])(?:\+\d{1,3}[ .-]?)?\(?\d[\d ().-]{5,22}\d(?:[ ]?(?:x|ext\.?)[ ]?\d{1,6})?(?![\w/]|:\d)/g;

const CARD = /(?<![\w.+-])\d(?:[ -]?\d){11,18}(?![\d]|[.-]\d)/g;

const IBAN =
  /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])/g;

const SSN = /(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])/g;

/** Key formats with a fixed prefix (providers' and Keel's own), and a JWT. */
const API_KEY = new RegExp(
  '(?<![A-Za-z0-9_-])(?:' +
    [
      'keel_sk_[A-Za-z0-9]{20,200}',
      'sk-(?:proj-|ant-(?:api\\d\\d-)?|or-v1-)?[A-Za-z0-9_-]{20,200}',
      '(?:AKIA|ASIA)[0-9A-Z]{16}',
      'gh[pousr]_[A-Za-z0-9]{30,200}',
      'github_pat_[A-Za-z0-9_]{22,200}',
      'xox[abposr]-[A-Za-z0-9-]{10,200}',
      'AIza[0-9A-Za-z_-]{35}',
      '(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,200}',
      'glpat-[A-Za-z0-9_-]{20,200}',
      'hf_[A-Za-z0-9]{30,200}',
      'eyJ[A-Za-z0-9_-]{8,2000}\\.eyJ[A-Za-z0-9_-]{8,4000}\\.[A-Za-z0-9_-]{8,2000}',
    ].join('|') +
    ')(?![A-Za-z0-9_-])',
  'g',
);

/** A secret assigned to a telling name (`api_key=...`, `"secret": "..."`): the value is the span. */
const NAMED_SECRET =
  /(?<![A-Za-z0-9])(?:api[_-]?key|access[_-]?key|secret(?:[_-]?key)?|client[_-]?secret|auth[_-]?token|access[_-]?token|password)["']?[ \t]{0,4}[:=][ \t]{0,4}["']?([A-Za-z0-9_\-./+=]{16,512})/gi;

const BEARER = /(?<![A-Za-z0-9])Bearer[ \t]{1,8}([A-Za-z0-9._~+/-]{8,4096}=*)/g;

const DETECTORS: readonly Detector[] = [
  { entity: 'email', pattern: EMAIL, accept: whole },
  { entity: 'phone', pattern: PHONE, accept: acceptPhone },
  { entity: 'card', pattern: CARD, accept: (match) => (isCardNumber(match[0]) ? whole(match) : null) },
  { entity: 'iban', pattern: IBAN, accept: acceptIban },
  { entity: 'ssn', pattern: SSN, accept: whole },
  { entity: 'api_key', pattern: API_KEY, accept: whole },
  { entity: 'api_key', pattern: NAMED_SECRET, accept: group(1) },
  { entity: 'bearer_token', pattern: BEARER, accept: group(1) },
];

function group(index: number) {
  return (match: RegExpExecArray) => {
    const value = match[index];
    if (value === undefined) return null;
    const start = match.index + match[0].length - value.length;
    return { start, end: start + value.length };
  };
}

/**
 * The PII in `text`, in order of position, without overlaps. `entities` narrows the kinds looked
 * for (all by default).
 */
export function detectPii(text: string, entities: readonly PiiEntity[] = PII_ENTITIES): PiiSpan[] {
  const found: PiiSpan[] = [];
  for (const detector of DETECTORS) {
    if (!entities.includes(detector.entity)) continue;
    const pattern = detector.pattern;
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      const span = detector.accept(match);
      if (span) found.push({ entity: detector.entity, ...span });
    }
  }
  return withoutOverlaps(found);
}

/** `text` with every PII value found replaced by its label (`[EMAIL]`, `[CARD]`...). */
export function redactPii(text: string, entities: readonly PiiEntity[] = PII_ENTITIES): string {
  return replaceSpans(text, detectPii(text, entities));
}

/** `text` with the given spans (sorted, not overlapping) replaced by their labels. */
export function replaceSpans(text: string, spans: readonly PiiSpan[]): string {
  let out = '';
  let at = 0;
  for (const span of spans) {
    out += text.slice(at, span.start) + PII_REPLACEMENTS[span.entity];
    at = span.end;
  }
  return out + text.slice(at);
}

/** Keeps the most specific finding where findings overlap (then the longer one). */
function withoutOverlaps(spans: PiiSpan[]): PiiSpan[] {
  const ranked = [...spans].sort(
    (a, b) => PRIORITY.indexOf(a.entity) - PRIORITY.indexOf(b.entity) || b.end - b.start - (a.end - a.start),
  );
  const kept: PiiSpan[] = [];
  for (const span of ranked) {
    if (kept.every((other) => span.end <= other.start || span.start >= other.end)) kept.push(span);
  }
  return kept.sort((a, b) => a.start - b.start);
}

/** True when the digits pass the Luhn checksum (payment cards). */
export function isLuhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  let double = false;
  for (let index = digits.length - 1; index >= 0; index--) {
    let digit = digits.charCodeAt(index) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners, Maestro,
 * UnionPay): a Luhn-valid number outside them is more likely an order or account number.
 */
const CARD_PREFIX = /^(?:4|5[0-9]|2(?:2[2-9]|[3-6]|7[01]|720|131)|3[0-9]|6|1800)/;

/** A payment card number: 12 to 19 digits, a known issuer prefix, Luhn-valid. */
export function isCardNumber(candidate: string): boolean {
  const digits = candidate.replace(/[ -]/g, '');
  return digits.length >= 12 && digits.length <= 19 && CARD_PREFIX.test(digits) && isLuhnValid(digits);
}

/** Lengths of IBANs by country (ISO 13616 registry); other countries: 15 to 34. */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AT: 20, BE: 16, BG: 22, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20, ES: 24, FI: 18,
  FR: 27, GB: 22, GR: 27, HR: 21, HU: 28, IE: 22, IS: 26, IT: 27, LI: 21, LT: 20, LU: 20, LV: 21,
  MC: 27, MT: 31, NL: 18, NO: 15, PL: 28, PT: 25, RO: 24, SE: 24, SI: 19, SK: 24, SM: 27, TR: 26,
}; // prettier-ignore

/** True when `candidate` (spaces allowed, any case) is an IBAN whose mod-97 check holds. */
export function isValidIban(candidate: string): boolean {
  const iban = candidate.replace(/ /g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const expected = IBAN_LENGTHS[iban.slice(0, 2)];
  if (expected !== undefined && iban.length !== expected) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const value = char >= 'A' ? char.charCodeAt(0) - 55 : char.charCodeAt(0) - 48;
    remainder = (remainder * (value > 9 ? 100 : 10) + value) % 97;
  }
  return remainder === 1;
}

/** An IBAN candidate may have swallowed a short word after it: drop trailing groups until valid. */
function acceptIban(match: RegExpExecArray): { start: number; end: number } | null {
  let candidate = match[0];
  for (;;) {
    if (isValidIban(candidate)) return { start: match.index, end: match.index + candidate.length };
    const lastSpace = candidate.lastIndexOf(' ');
    if (lastSpace < 0) return null;
    candidate = candidate.slice(0, lastSpace);
  }
}

/**
 * A phone candidate, unless it is two short groups followed by a word: that is a house number
 * and a street ("17151 2450 Crown St"), far more often than a phone number (but not when it
 * starts with an international `+`).
 */
function acceptPhone(match: RegExpExecArray): { start: number; end: number } | null {
  const candidate = match[0];
  if (!isPhoneNumber(candidate)) return null;
  const end = match.index + candidate.length;
  const groups = candidate.split(/[ .\-()+]+/).filter(Boolean).length;
  const international = candidate.startsWith('+');
  if (!international && groups <= 2 && /^[ \t]{1,4}\p{L}/u.test(match.input.slice(end, end + 6))) return null;
  return { start: match.index, end };
}

const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const DATE = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4})(?: \d{1,2})?$/;
const POSTAL_CODE = /^\d{5}-\d{3,4}$/;
/** An SSN's shape that failed the SSN rules: not a phone number either. */
const SSN_SHAPE = /^\d{3}-\d{2}-\d{4}$/;
const YEAR_RANGE = /^(?:1[89]|20)\d\d ?- ?(?:1[89]|20)\d\d$/;
const DOTTED_THOUSANDS = /^\d{1,3}(?:\.\d{3})+$/;

/**
 * A phone number: 7 to 15 digits (E.164) in groups of the usual shape. Dates, IPv4 addresses,
 * year ranges and dotted thousands look alike and are refused; a bare digit run counts only at
 * the length of a national number with its area code (10 or 11 digits).
 */
export function isPhoneNumber(candidate: string): boolean {
  const number = candidate.replace(/[ ]?(?:x|ext\.?)[ ]?\d{1,6}$/, '');
  const digits = number.replace(/\D/g, '');
  if (digits.length < 7 || digits.length > 15) return false;
  if (
    IPV4.test(number) ||
    DATE.test(number) ||
    YEAR_RANGE.test(number) ||
    DOTTED_THOUSANDS.test(number) ||
    POSTAL_CODE.test(number) ||
    SSN_SHAPE.test(number)
  ) {
    return false;
  }
  if (/^\d+$/.test(number)) return digits.length === 10 || digits.length === 11;
  if (!balancedParentheses(number) || /[ .-]{2}|[.-][ ]|[ ][.-]/.test(number.replace(/\) /g, ')')))
    return false;
  // The trunk prefix "(0)" of international numbers ("+46 (0)8 ...") is not a group.
  const groups = number
    .replace('(0)', ' ')
    .split(/[ .\-()+]+/)
    .filter(Boolean);
  return groups.filter((each) => each.length === 1).length <= 1;
}

function balancedParentheses(text: string): boolean {
  let depth = 0;
  for (const char of text) {
    if (char === '(') depth++;
    else if (char === ')' && --depth < 0) return false;
    if (depth > 1) return false;
  }
  return depth === 0;
}
