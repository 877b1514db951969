import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openStore } from './open-store.js';
import { decodeCursor, encodeCursor } from './page-cursor.js';

const crafted = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function invalidCursorOf(value: string): unknown {
  try {
    decodeCursor(value);
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('page cursors', () => {
  it('decodes what it encoded, with the timestamps the database writes', () => {
    for (const createdAt of [
      '2026-12-05 17:03:17.123456+00',
      '2026-12-05 17:03:17+05:30',
      '1900-02-28 00:00:00-03',
      '2024-02-29T23:59:59.1Z',
    ]) {
      const cursor = { createdAt, id: 'run_01m7ym8ds1nembt9q82dqjm03h' };
      expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    }
  });

  it('refuses every crafted shape as invalid_cursor, the caller’s fault', () => {
    const id = 'run_1';
    for (const value of [
      '',
      'not-a-cursor',
      'a'.repeat(601),
      'eyJ9+/=',
      crafted(null),
      crafted([]),
      crafted('x'),
      crafted({ createdAt: 'x', id }),
      crafted({ createdAt: 1, id }),
      crafted({ createdAt: '2026-13-01 00:00:00+00', id }),
      crafted({ createdAt: '2026-02-29 00:00:00+00', id }),
      crafted({ createdAt: '2026-04-31 00:00:00+00', id }),
      crafted({ createdAt: '2026-12-05 24:00:00+00', id }),
      crafted({ createdAt: '2026-12-05 12:00:00+16', id }),
      crafted({ createdAt: '0000-01-01 00:00:00+00', id }),
      crafted({ createdAt: '2026-12-05 12:00:00+00', id: '' }),
      crafted({ createdAt: '2026-12-05 12:00:00+00', id: 'a\u0000b' }),
      crafted({ createdAt: '2026-12-05 12:00:00+00', id: 'a\ud800' }),
      crafted({ createdAt: '2026-12-05 12:00:00+00', id: 'x'.repeat(201) }),
      crafted({ createdAt: '2026-12-05 12:00:00+00', id, extra: 1 }),
    ])
      expect(invalidCursorOf(value), value).toMatchObject({ code: 'invalid_cursor', fault: 'caller' });
  });

  it('either decodes a fuzzed cursor to a valid one or refuses it as invalid_cursor', () => {
    const createdAt = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
      fc
        .tuple(
          fc.integer({ min: 0, max: 9999 }),
          fc.integer({ min: 0, max: 99 }),
          fc.integer({ min: 0, max: 99 }),
        )
        .map(
          ([y, m, d]) =>
            `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')} 10:00:00+00`,
        ),
    );
    const cursor = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.base64String(),
      fc.record({ createdAt, id: fc.string({ unit: 'binary' }) }).map(crafted),
      fc.jsonValue().map(crafted),
    );
    fc.assert(
      fc.property(cursor, (value) => {
        const error = invalidCursorOf(value);
        if (error !== undefined) {
          expect(error).toMatchObject({ code: 'invalid_cursor', fault: 'caller' });
          return;
        }
        const decoded = decodeCursor(value);
        expect(
          Number.isNaN(Date.parse(decoded.createdAt.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00'))),
        ).toBe(false);
        expect(decoded.id).not.toContain('\u0000');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('page cursors the store writes', () => {
  it('page through every run whatever the server’s DateStyle', async () => {
    // PGlite has one connection, so the session setting applies to every statement of the store.
    const { store, client } = await openStore({ dataDir: 'memory://' });
    try {
      await client.exec(`SET DateStyle TO 'SQL, DMY'`);
      const ids: string[] = [];
      for (let index = 0; index < 3; index++)
        ids.push((await store.createRun({ agent: 'a', input: index })).run.id);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listRuns({ limit: 1, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...page.runs.map((run) => run.id));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      expect(seen.sort()).toEqual([...ids].sort());
    } finally {
      await store.close();
    }
  });
});
