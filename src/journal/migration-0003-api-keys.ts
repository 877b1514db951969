import type { Migration } from './migrations.js';

/**
 * Tenants' API keys (virtual keys), stored hashed. `secret_hash` is the hex SHA-256 of the full
 * key. A slow password hash (bcrypt, scrypt, argon2) exists to make guessing a low-entropy
 * password expensive; a Keel key is 32 random bytes, so no guess list exists and a fast hash
 * is exactly as safe, while it lets `verify` find the key by an indexed equality lookup
 * instead of hashing against every candidate. `prefix` (e.g. `keel_sk_ab12cd34`) is the part
 * shown in listings so people can tell keys apart; it reveals 8 of the 43 secret characters.
 */
export const apiKeysMigration: Migration = {
  version: 3,
  name: 'api_keys',
  up: (schema) => `
    CREATE TABLE ${schema}.api_keys (
      id text PRIMARY KEY,
      tenant_id text NOT NULL,
      name text,
      prefix text NOT NULL,
      secret_hash text NOT NULL UNIQUE,
      scopes text[] NOT NULL,
      rpm integer,
      tpm integer,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz,
      expires_at timestamptz
    );
    CREATE INDEX api_keys_tenant ON ${schema}.api_keys (tenant_id, created_at DESC);
  `,
};
