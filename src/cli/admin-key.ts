import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiKeys } from '../gateway/api-keys.js';

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
 * Makes sure the embedded database has a working admin key for tenant `default` in its folder:
 * the stored one when it still verifies, else a new one written to the file (0600), owner-only
 * like the database itself. `created` tells the caller to print the key, the only time it is shown.
 */
export async function ensureLocalAdminKey({
  keelDir,
  apiKeys,
}: {
  keelDir: string;
  apiKeys: Pick<ApiKeys, 'create' | 'verify'>;
}): Promise<{ key: string; created: boolean }> {
  const existing = readLocalAdminKey(keelDir);
  if (existing !== undefined && (await apiKeys.verify(existing)) !== undefined)
    return { key: existing, created: false };
  const { key } = await apiKeys.create({ tenantId: 'default', name: 'local admin', scopes: ['admin'] });
  const path = adminKeyPath(keelDir);
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  // The mode of writeFileSync applies only to a new file.
  chmodSync(path, 0o600);
  return { key, created: true };
}
