import { keelDirectory, openBackend } from '../backend.js';
import { readEmbeddedOwner } from '../embedded-lock.js';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../exit-codes.js';
import { UsageError } from '../usage-error.js';

/**
 * `keel console`: prints a fresh one-time sign-in link to the console of the `keel serve` that
 * owns the embedded database (the one printed at start works once, for 15 minutes). Asked of that
 * server with the local admin key (`POST /v1/console/links`), so the link's session is tenant
 * `default`'s. With Postgres there are no links: sign in with an API key.
 */
export async function consoleCommand({ json = false }: { json?: boolean }, io: CliIo): Promise<number> {
  if (io.env.DATABASE_URL)
    throw new UsageError(
      'keel console prints sign-in links for the embedded database only; with Postgres, open the console of keel serve and sign in with an API key (keel keys create).',
    );
  // Only a running server can issue a link: never open (or create) the database for nothing.
  if (readEmbeddedOwner(keelDirectory({ env: io.env, cwd: io.cwd }))?.url === undefined)
    throw new UsageError(
      'No keel serve is running on the embedded database: start it (npm start), then run keel console.',
    );
  const backend = await openBackend({ env: io.env, cwd: io.cwd });
  try {
    if (backend.mode !== 'remote')
      throw new UsageError('The keel serve that owned the embedded database has stopped.');
    const link = await backend.api.call<{ path: string; expires_at: string }>('/v1/console/links', {
      method: 'POST',
    });
    if (json)
      io.stdout.write(
        JSON.stringify({ url: `${backend.url}${link!.path}`, expires_at: link!.expires_at }) + '\n',
      );
    else {
      io.stdout.write(`${backend.url}${link!.path}\n`);
      io.stderr.write(`(a one-time sign-in link, valid until ${link!.expires_at})\n`);
    }
    return EXIT.ok;
  } finally {
    await backend.close();
  }
}
