import { z } from 'zod';
import { KeelError } from '../errors/keel-error.js';

/**
 * A page cursor: where the last page ended, as the row's timestamp (the database's own text, so
 * no microsecond is lost) and id, in base64url JSON. Cursors come back from callers, so
 * decoding validates every field before it reaches SQL: a cursor the database would refuse
 * (`createdAt` that is no timestamp, an id with NUL...) is the caller's `invalid_cursor`, never
 * a database error.
 */
export interface PageCursor {
  createdAt: string;
  id: string;
}

/** Base64url of a cursor this store wrote is well under this. */
const MAX_CURSOR_LENGTH = 600;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/**
 * `timestamptz::text` under the ISO date style: `2026-12-05 17:03:17.123456+00` (a `T`, a `Z`
 * and offsets with minutes or seconds are accepted too).
 */
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:Z|[+-](\d{2})(?::?([0-5]\d)(?::?[0-5]\d)?)?)$/;
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether `value` is a timestamp the database reads as one, with every field in range. */
function isTimestamp(value: string): boolean {
  const match = TIMESTAMP.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second, offsetHours] = match.slice(1, 8).map(Number) as number[];
  if (year! < 1 || month! < 1 || month! > 12 || hour! > 23 || minute! > 59 || second! > 59) return false;
  if (offsetHours !== undefined && !Number.isNaN(offsetHours) && offsetHours > 15) return false;
  const leap = (year! % 4 === 0 && year! % 100 !== 0) || year! % 400 === 0;
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : DAYS_IN_MONTH[month! - 1]!;
  return day! >= 1 && day! <= daysInMonth;
}

const cursorSchema = z
  .object({
    createdAt: z.string().refine(isTimestamp),
    id: z
      .string()
      .min(1)
      .max(200)
      .refine((id) => !id.includes('\u0000') && !UNPAIRED_SURROGATE.test(id)),
  })
  .strict();

export function encodeCursor(cursor: PageCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** The cursor `value` names; `invalid_cursor` (the caller's fault, 400) for anything else. */
export function decodeCursor(value: string): PageCursor {
  const invalid = () =>
    new KeelError({
      code: 'invalid_cursor',
      message: 'Invalid page cursor.',
      fault: 'caller',
      details: { cursor: value.slice(0, MAX_CURSOR_LENGTH) },
    });
  if (value.length === 0 || value.length > MAX_CURSOR_LENGTH || !BASE64URL.test(value)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success) throw invalid();
  return parsed.data;
}
