import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { checkAgentModels } from '../../config/check-models.js';
import { PROVIDER_KEY_VARIABLES } from '../../model/resolve-model.js';
import { loadConfig, type LoadedConfig } from '../../config/load-config.js';
import { serializeError } from '../../errors/keel-error.js';
import { migrationStatus, type MigrationStatus } from '../../journal/migrations.js';
import { openStore } from '../../journal/open-store.js';
import { keelDirectory, redactUrl } from '../backend.js';
import type { CliIo } from '../cli-io.js';
import { acquireEmbeddedLock, readEmbeddedOwner, type EmbeddedOwner } from '../embedded-lock.js';
import { EXIT } from '../exit-codes.js';
import { listenHostOf, listenPortOf } from '../parse-options.js';

/** One finding of `keel doctor`. */
export interface DoctorCheck {
  /** `node`, `config`, `model:<agent>`, `lock`, `database`, `migrations`, `port`. */
  name: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
}

/**
 * `keel doctor`: checks what `serve` and `worker` need, without starting them: the Node version
 * against package.json's engines, the config and each agent's model and key, the embedded
 * database's lock holder, the database (reachable, which one) and its migrations, and whether the
 * configured port is free. Exit 0 when nothing failed (warnings allowed), 1 otherwise.
 */
export async function doctorCommand(
  { json, port, config }: { json: boolean; port?: string; config?: string },
  io: CliIo,
): Promise<number> {
  const checks: DoctorCheck[] = [nodeCheck()];
  let loaded: LoadedConfig | undefined;
  try {
    loaded = await loadConfig({ path: config, cwd: io.cwd, env: io.env });
    checks.push({ name: 'config', status: 'ok', message: `${loaded.path}: ${loaded.agents.size} agent(s)` });
  } catch (error) {
    checks.push({ name: 'config', status: 'fail', message: messageOf(error) });
  }
  if (loaded !== undefined) checks.push(...modelChecks(loaded, io.env));
  const owner = io.env.DATABASE_URL
    ? undefined
    : readEmbeddedOwner(keelDirectory({ env: io.env, cwd: io.cwd }));
  if (!io.env.DATABASE_URL) checks.push(lockCheck(owner, keelDirectory({ env: io.env, cwd: io.cwd })));
  checks.push(...(await databaseChecks(io, owner)));
  checks.push(await portCheck(port, io.env, owner));

  const ok = checks.every((check) => check.status !== 'fail');
  if (json) io.stdout.write(JSON.stringify({ ok, checks }) + '\n');
  else {
    const width = Math.max(...checks.map((check) => check.name.length));
    for (const check of checks)
      io.stdout.write(`${check.status.padEnd(4)}  ${check.name.padEnd(width)}  ${check.message}\n`);
    io.stdout.write(ok ? 'All checks passed.\n' : 'Some checks failed.\n');
  }
  return ok ? EXIT.ok : EXIT.doctorFailed;
}

function messageOf(error: unknown): string {
  const serialized = serializeError(error);
  return `${serialized.message} [${serialized.code}]`;
}

/** The running Node against `engines.node` (a `>=X.Y.Z` range). */
function nodeCheck(): DoctorCheck {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    engines?: { node?: string };
  };
  const range = manifest.engines?.node ?? '';
  const running = process.versions.node;
  const minimum = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(range.trim())?.[1];
  if (minimum === undefined)
    return { name: 'node', status: 'warn', message: `v${running}; engines.node "${range}" not understood` };
  const satisfied = compareVersions(running, minimum) >= 0;
  return {
    name: 'node',
    status: satisfied ? 'ok' : 'fail',
    message: `v${running} ${satisfied ? 'satisfies' : 'does not satisfy'} engines.node ${range}`,
  };
}

function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let index = 0; index < 3; index++) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** One check per agent: its model, the key variable it reads, and any problem (check-models.ts). */
function modelChecks(loaded: LoadedConfig, env: NodeJS.ProcessEnv): DoctorCheck[] {
  return checkAgentModels(loaded, { env }).map((status) => {
    const name = `model:${status.agent}`;
    if (!status.ok)
      return {
        name,
        status: 'fail',
        message: `${status.model}: ${status.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
      };
    const prefix = status.model.slice(0, status.model.indexOf(':'));
    const variables =
      typeof loaded.agents.get(status.agent)?.model === 'string'
        ? (PROVIDER_KEY_VARIABLES as Readonly<Record<string, readonly string[]>>)[prefix]
        : undefined;
    const set = variables?.find((variable) => env[variable]?.trim());
    return { name, status: 'ok', message: set === undefined ? status.model : `${status.model} (${set} set)` };
  });
}

function lockCheck(owner: EmbeddedOwner | undefined, keelDir: string): DoctorCheck {
  if (owner === undefined) return { name: 'lock', status: 'ok', message: `${keelDir}: no process holds it` };
  if (owner.url !== undefined)
    return {
      name: 'lock',
      status: 'ok',
      message: `${keelDir}: held by keel serve at ${owner.url} (process ${owner.pid})`,
    };
  // A process that serves no API (a worker, a run, an eval) holds the embedded database: serve,
  // worker and the commands that open it wait for it or fail with store_locked until it ends.
  return {
    name: 'lock',
    status: 'warn',
    message: `${keelDir}: held by process ${owner.pid}, which serves no API: keel serve and keel worker cannot open the embedded database until it ends`,
  };
}

/** Which database, whether it answers, and its migrations against the ones this code knows. */
async function databaseChecks(io: CliIo, owner: EmbeddedOwner | undefined): Promise<DoctorCheck[]> {
  const databaseUrl = io.env.DATABASE_URL;
  const keelDir = keelDirectory({ env: io.env, cwd: io.cwd });
  if (!databaseUrl) {
    if (owner?.url !== undefined) return serverDatabaseChecks(owner.url, keelDir);
    if (owner !== undefined)
      return [
        {
          name: 'database',
          status: 'warn',
          message: `embedded ${keelDir}: in use by process ${owner.pid}, which serves no API; not checked`,
        },
      ];
    const dataDir = resolve(keelDir, 'data');
    if (!existsSync(dataDir))
      return [
        {
          name: 'database',
          status: 'warn',
          message: `embedded ${keelDir}: not created yet (the first keel command creates and migrates it)`,
        },
      ];
  }
  const description = databaseUrl ? `postgres ${redactUrl(databaseUrl)}` : `embedded ${keelDir}`;
  let release: (() => void) | undefined;
  let opened: Awaited<ReturnType<typeof openStore>> | undefined;
  try {
    if (!databaseUrl) release = acquireEmbeddedLock(keelDir);
    opened = databaseUrl
      ? await openStore({ databaseUrl, migrate: false, connectTimeoutMs: 5_000, env: io.env })
      : await openStore({ dataDir: resolve(keelDir, 'data'), migrate: false, env: io.env });
    const status = await migrationStatus(opened.client);
    return [
      { name: 'database', status: 'ok', message: `${description}: reachable` },
      migrationsCheck(status),
    ];
  } catch (error) {
    return [{ name: 'database', status: 'fail', message: `${description}: ${messageOf(error)}` }];
  } finally {
    await opened?.store.close().catch(() => {});
    release?.();
  }
}

function migrationsCheck({ applied, known, pending, unknown }: MigrationStatus): DoctorCheck {
  const counts = `${applied.length} applied of ${known.length} known`;
  if (unknown.length > 0)
    return {
      name: 'migrations',
      status: 'fail',
      message: `${counts}; applied by newer code: ${unknown.join(', ')} (upgrade Keel)`,
    };
  if (pending.length > 0)
    return {
      name: 'migrations',
      status: 'warn',
      message: `${counts}; pending: ${pending.join(', ')} (applied by keel migrate or the next start)`,
    };
  return { name: 'migrations', status: 'ok', message: `${counts}: up to date` };
}

/** The embedded database of a running `keel serve`: asked through its `/readyz`. */
async function serverDatabaseChecks(url: string, keelDir: string): Promise<DoctorCheck[]> {
  try {
    const response = await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(5_000) });
    const report = (await response.json()) as {
      database?: string;
      migrations?: { up_to_date: boolean; pending: number[]; unknown: number[] } | null;
    };
    const reachable = report.database === 'reachable';
    const checks: DoctorCheck[] = [
      {
        name: 'database',
        status: reachable ? 'ok' : 'fail',
        message: `embedded ${keelDir} (through keel serve at ${url}): ${report.database ?? 'unknown'}`,
      },
    ];
    const migrations = report.migrations;
    if (migrations)
      checks.push({
        name: 'migrations',
        status: migrations.unknown.length > 0 ? 'fail' : migrations.up_to_date ? 'ok' : 'warn',
        message: migrations.up_to_date
          ? 'up to date'
          : `pending: ${migrations.pending.join(', ') || 'none'}; applied by newer code: ${migrations.unknown.join(', ') || 'none'}`,
      });
    return checks;
  } catch (error) {
    return [
      {
        name: 'database',
        status: 'fail',
        message: `keel serve at ${url} does not answer /readyz: ${messageOf(error)}`,
      },
    ];
  }
}

/** Whether `keel serve` could listen on the configured port (`--port`, else PORT, else 4000). */
async function portCheck(
  port: string | undefined,
  env: NodeJS.ProcessEnv,
  owner: EmbeddedOwner | undefined,
): Promise<DoctorCheck> {
  const listenPort = listenPortOf(port, env, 4000);
  const host = listenHostOf(undefined);
  const free = await new Promise<boolean | string>((done) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      done(error.code === 'EADDRINUSE' ? false : String(error)),
    );
    probe.listen(listenPort, host, () => probe.close(() => done(true)));
  });
  const where = `${host}:${listenPort}`;
  if (free === true) return { name: 'port', status: 'ok', message: `${where} is free` };
  if (typeof free === 'string') return { name: 'port', status: 'fail', message: `${where}: ${free}` };
  const served = owner?.url !== undefined && new URL(owner.url).port === String(listenPort);
  return served
    ? { name: 'port', status: 'ok', message: `${where} is held by keel serve (process ${owner!.pid})` }
    : { name: 'port', status: 'fail', message: `${where} is in use by another program` };
}
