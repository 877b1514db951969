/**
 * One gateway process of shared-limits.test.ts, run as `node --import jiti/register` from the
 * project root. Connects, prints `ready`, waits for a line on stdin, fires KEEL_FIXTURE_REQUESTS
 * concurrent reserves against the shared scopes, prints `{"admitted":n,"refused":m}` and exits.
 */
import { once } from 'node:events';
import { createPgClient } from '../../journal/pg-client.js';
import { createSqlRateLimiter } from '../sql-rate-limiter.js';

const environment = process.env;
const connectionString = environment.KEEL_FIXTURE_DATABASE_URL ?? '';
const schema = environment.KEEL_FIXTURE_SCHEMA ?? '';
const requests = Number(environment.KEEL_FIXTURE_REQUESTS);
const rpm = Number(environment.KEEL_FIXTURE_RPM);
const tpm = Number(environment.KEEL_FIXTURE_TPM);
// One fixed instant for both processes, so the test never straddles a minute boundary.
const now = Number(environment.KEEL_FIXTURE_NOW);

const client = createPgClient({ connectionString, max: 10 });
const limiter = createSqlRateLimiter({ client, schema, clock: { now: () => now } });
try {
  // Open the pool's connections before the start signal, so the reserves race for real.
  await Promise.all(Array.from({ length: 10 }, () => client.query('SELECT pg_sleep(0.02)')));
  process.stdout.write('ready\n');
  await once(process.stdin, 'data');
  process.stdin.destroy();
  const results = await Promise.all(
    Array.from({ length: requests }, () =>
      limiter.reserve(
        [
          { scope: 'deployment:shared', rpm },
          { scope: 'key:shared', tpm },
        ],
        10,
      ),
    ),
  );
  const admitted = results.filter((result) => result.ok).length;
  process.stdout.write(`${JSON.stringify({ admitted, refused: results.length - admitted })}\n`);
} finally {
  await client.close();
}
