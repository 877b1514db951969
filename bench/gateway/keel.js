// Keel side of the gateway benchmark: how to start Keel's gateway and get a key to call it
// with. Everything Keel-specific of that benchmark is here (and in keel.config.js).
//
//   node bin/keel.js gateway --port <port> --config bench/gateway/keel.config.js
//     env: KEEL_BENCH_UPSTREAM_PORT (the mock upstream, read by the config), MOCK_API_KEY (the
//     deployment's provider key), and a store: DATABASE_URL (a fresh Postgres database
//     keel_bench_gateway_keel_<run id>, see lib/db.js, dropped afterwards) or, when Postgres is unreachable or
//     KEEL_BENCH_GATEWAY_STORE=embedded, KEEL_DATA_DIR (a temporary folder, removed afterwards).
//   callers: POST /v1/chat/completions, Authorization: Bearer <key>, body { model: 'gpt-4o-mini', ... }
//
// The key (apiKey() below), first that applies:
//   1. KEEL_BENCH_API_KEY, used as it is (the gateway must already accept it in that store);
//   2. when `keel --help` lists `keel keys create`: `keel keys create --tenant bench --scopes
//      gateway --name gateway-bench --json`, run against the same store before the gateway
//      starts; the key is read from its JSON output (`key`), or else from its first line;
//   3. otherwise a random development key passed to the gateway as KEEL_GATEWAY_DEV_KEY.
// Anything missing (not built, no `keel gateway` command, a key it rejects) makes the Keel rows
// read "not available (reason)" instead of stopping the benchmark.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeelUnavailableError } from '../lib/keel.js';
import { startProcess } from './procs.js';

export const name = 'Keel';

const CONFIG = fileURLToPath(new URL('./keel.config.js', import.meta.url));
// The CLI of the Keel the bench imports (bench/node_modules/keel -> the root package), or
// KEEL_BENCH_KEEL_BIN (another build's bin/keel.js).
const LINKED_BIN = fileURLToPath(new URL('../node_modules/keel/bin/keel.js', import.meta.url));
const BIN =
  process.env.KEEL_BENCH_KEEL_BIN ??
  (existsSync(LINKED_BIN) ? LINKED_BIN : fileURLToPath(new URL('../../bin/keel.js', import.meta.url)));
const PROVIDER_KEY = 'sk-mock-bench';

function cli(args, env, timeoutMs = 30_000) {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: res.status, stdout: res.stdout ?? '', stderr: res.stderr ?? '', error: res.error };
}

const firstLine = (text) =>
  text
    .trim()
    .split('\n')
    .find((l) => l.trim()) ?? '';

/** The store the gateway uses: { env, description, close() }. */
async function openStoreEnv(database) {
  const want = process.env.KEEL_BENCH_GATEWAY_STORE ?? 'auto';
  if (want !== 'embedded') {
    try {
      const { benchDatabase, freshDatabase, dropDatabase } = await import('../lib/db.js');
      const name = benchDatabase(database);
      const databaseUrl = await freshDatabase(name);
      return {
        env: { DATABASE_URL: databaseUrl },
        description: 'postgres',
        close: () => dropDatabase(name),
      };
    } catch (error) {
      if (want === 'postgres') throw new Error(`Postgres for Keel's gateway: ${error.message}`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-gateway-'));
  return {
    env: { KEEL_DATA_DIR: dir },
    description: 'embedded (PGlite)',
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The setup hook: the key to call the gateway with. Returns { key, source, gatewayEnv }. */
export function apiKey({ help, storeEnv }) {
  if (process.env.KEEL_BENCH_API_KEY)
    return { key: process.env.KEEL_BENCH_API_KEY, source: 'KEEL_BENCH_API_KEY', gatewayEnv: {} };
  if (/keel keys create/.test(help)) {
    const args = [
      'keys',
      'create',
      '--tenant',
      'bench',
      '--scopes',
      'gateway',
      '--name',
      'gateway-bench',
      '--json',
    ];
    const res = cli(args, storeEnv);
    if (res.status !== 0) {
      throw new KeelUnavailableError(
        `\`keel ${args.join(' ')}\` failed (${res.error?.message ?? `exit ${res.status}`}): ` +
          firstLine(res.stderr || res.stdout),
      );
    }
    let key;
    try {
      key = JSON.parse(res.stdout).key;
    } catch {
      const first = firstLine(res.stdout).trim();
      if (first && !/\s/.test(first)) key = first;
    }
    if (typeof key !== 'string' || !key)
      throw new KeelUnavailableError(
        `cannot read a key from \`keel keys create --json\` output: ${firstLine(res.stdout)}`,
      );
    return { key, source: 'keel keys create', gatewayEnv: {} };
  }
  const key = `keel_dev_bench_${randomBytes(16).toString('hex')}`;
  return { key, source: 'KEEL_GATEWAY_DEV_KEY', gatewayEnv: { KEEL_GATEWAY_DEV_KEY: key } };
}

/**
 * Starts `keel gateway` on `port` in front of the mock upstream. Returns
 * { proc, url, headers, info, close() }; throws KeelUnavailableError when Keel can't be run yet.
 * The coding-session benchmark passes its own `config` (an Anthropic deployment), `path`
 * (/v1/messages: the key then goes as `x-api-key`, as Claude Code sends it) and `database`.
 */
export async function start({
  port,
  upstreamPort,
  config = CONFIG,
  path = '/v1/chat/completions',
  database = 'keel_bench_gateway_keel',
}) {
  if (!process.env.KEEL_BENCH_KEEL_BIN && !existsSync(join(dirname(BIN), '..', 'dist', 'cli', 'main.js')))
    throw new KeelUnavailableError('Keel is not built: run `npm run build` at the root');
  const helpRes = cli(['--help'], {});
  const help = `${helpRes.stdout}\n${helpRes.stderr}`;
  if (!/keel gateway\b/.test(help))
    throw new KeelUnavailableError(
      'the built Keel has no `keel gateway` command (`keel --help` lists none): `npm run build` at the root',
    );

  const store = await openStoreEnv(database);
  try {
    const configEnv = { KEEL_BENCH_UPSTREAM_PORT: String(upstreamPort), MOCK_API_KEY: PROVIDER_KEY };
    const { key, source, gatewayEnv } = apiKey({ help, storeEnv: { ...store.env, ...configEnv } });
    const proc = startProcess('Keel gateway', [BIN, 'gateway', '--port', String(port), '--config', config], {
      env: { ...store.env, ...configEnv, ...gatewayEnv },
    });
    return {
      proc,
      url: `http://127.0.0.1:${port}${path}`,
      headers: path === '/v1/messages' ? { 'x-api-key': key } : { authorization: `Bearer ${key}` },
      info: { store: store.description, key: source },
      close: () => store.close(),
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
