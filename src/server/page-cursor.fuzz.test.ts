import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../util/logger.js';
import { startTestServer, type TestServer } from './__fixtures__/test-server.js';
import { errorResponse } from './schemas.js';

/** Every log line the server wrote at error level. */
const errorLines: string[] = [];
let app: TestServer;
beforeAll(async () => {
  const logger = createJsonLogger({
    write: (line) => {
      if ((JSON.parse(line) as { level?: string }).level === 'error') errorLines.push(line);
    },
  });
  app = await startTestServer({ logger });
  const body = JSON.stringify({ agent: 'echo', input: 'x', session_id: 'cursor-session' });
  for (let i = 0; i < 3; i++) expect((await app.call('/v1/runs', { method: 'POST', body })).status).toBe(202);
});
afterAll(() => app.close());

const ENDPOINTS = ['/v1/runs', '/v1/approvals', '/v1/sessions/cursor-session/messages'];
const crafted = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const timestamp = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString().replace('T', ' ').replace('Z', '+00')),
  fc.constantFrom('2026-02-30 00:00:00+00', '2026-12-05 25:00:00+00', '+275760-09-13', 'now', 'infinity', ''),
);
const id = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constantFrom('a\u0000b', '\ud800', 'x'.repeat(10_000), '', 'run_1'),
);
const cursor = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.base64String(),
  fc
    .record({ createdAt: fc.oneof(timestamp, fc.jsonValue()), id: fc.oneof(id, fc.jsonValue()) })
    .map(crafted),
  fc.jsonValue().map(crafted),
);

describe('page cursors on the API', () => {
  it('answer a crafted cursor 400 invalid_cursor (or a page) and never log an error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ENDPOINTS), cursor, async (path, value) => {
        const response = await app.call(`${path}?cursor=${encodeURIComponent(value)}`);
        if (response.status === 200) {
          await response.body?.cancel();
          return;
        }
        expect(response.status).toBe(400);
        expect(errorResponse.parse(await response.json()).error.code).toBe('invalid_cursor');
      }),
      { numRuns: 150 },
    );
    // The attack's cursors, on each endpoint.
    for (const path of ENDPOINTS)
      for (const value of [
        crafted({ createdAt: 'x', id: 'run_1' }),
        crafted({ createdAt: '2026-12-05 10:00:00+00', id: 'a\u0000' }),
      ]) {
        const response = await app.call(`${path}?cursor=${value}`);
        expect(response.status).toBe(400);
        expect(errorResponse.parse(await response.json()).error.code).toBe('invalid_cursor');
      }
    expect(errorLines).toEqual([]);
  });
});
