import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiKeys } from '../gateway/api-keys.js';
import { writePrivateFile } from '../util/private-files.js';

const FILE_NAME = 'admin-key';

/** Where the local admin key of an embedded database lives: `<keel dir>/admin-key` (mode 0600). */
export function adminKeyPath(keelDir: string): string {
  return join(keelDir, FILE_NAME);
}

/** The local admin key, or undefined when there is none (or it cannot be read). */
export function readLocalAdminKey(keelDir: string): string | undefined {
  try {
    const key = readFileSync(adminKeyPath(keelDir), 'utf8').trim();
    return key === '' ? undefined : key;
  } catch {
    return undefined;
  }
}

/**
 * The scopes of the local admin key: all of tenant `default`, every tenant's API keys, and the
 * scrape of `/metrics` (this machine's operator runs the server).
 */
const LOCAL_ADMIN_SCOPES = ['admin', 'operator', 'metrics'] as const;

/**
 * Makes sure the embedded database has a working admin key for tenant `default` in its folder:
 * the stored one when it still verifies with every scope it needs, else a new one written to the
 * file (0600), owner-only like the database itself (a stored key from before `operator` or `metrics`
 * existed is revoked and replaced). `created` tells the caller to print the key, the only time it is shown.
 * Its `operator` scope lets the CLI manage any tenant's keys through the local server.
 */
export async function ensureLocalAdminKey({
  keelDir,
  apiKeys,
}: {
  keelDir: string;
  apiKeys: Pick<ApiKeys, 'create' | 'verify' | 'revoke'>;
}): Promise<{ key: string; created: boolean }> {
  const existing = readLocalAdminKey(keelDir);
  const record = existing === undefined ? undefined : await apiKeys.verify(existing);
  if (existing !== undefined && record !== undefined) {
    if (LOCAL_ADMIN_SCOPES.every((scope) => record.scopes.includes(scope)))
      return { key: existing, created: false };
    await apiKeys.revoke(record.id);
  }
  const { key } = await apiKeys.create({
    tenantId: 'default',
    name: 'local admin',
    scopes: LOCAL_ADMIN_SCOPES,
  });
  // 0600 whatever the umask, an existing file's mode included, before the key is written.
  writePrivateFile(adminKeyPath(keelDir), `${key}\n`);
  return { key, created: true };
}

/** What `keel serve` and `keel gateway` print of a local admin key they just created (shown once). */
export function newAdminKeyNotice(keelDir: string, key: string): string {
  return `Created a local admin API key (tenant "default"), shown once and kept in ${adminKeyPath(keelDir)}:\n  ${key}\n`;
}
