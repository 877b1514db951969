/**
 * What the console's browser tests share: a real `keel serve` (from dist/, as deployed; the
 * travel planner on the embedded PGlite or on a fresh Postgres database), Debian's Chromium
 * driven by playwright-core, screenshots kept under `test-artifacts/console/`, and axe-core run
 * in the page. Chromium must be there: with `KEEL_REQUIRE_BROWSER=1` (CI) a missing one fails
 * the suites; otherwise they are skipped with a warning naming the package to install.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { describe } from 'vitest';
import { postgresTestUrl } from '../../src/testing/postgres.js';
import {
  assertBuilt,
  createKeelProcesses,
  createTestDatabase,
  ROOT,
  waitFor,
  type KeelProcess,
} from '../../test/keel-processes.js';

export const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'test-artifacts', 'console');
const AXE_SOURCE = fileURLToPath(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url));

/** `describe` when Chromium is installed; fails (CI) or skips loudly when it is not. */
export function describeInBrowser(name: string, body: () => void): void {
  if (existsSync(CHROMIUM)) {
    describe(name, body);
    return;
  }
  if (process.env.KEEL_REQUIRE_BROWSER === '1')
    throw new Error(`KEEL_REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: apt-get install -y chromium`);
  console.warn(`[console tests] ${CHROMIUM} is missing, "${name}" skipped: apt-get install -y chromium`);
  describe.skip(name, body);
}

/** The backends a console suite runs on: PGlite always, Postgres when configured (required in CI). */
export function consoleBackends(): ('pglite' | 'postgres')[] {
  return postgresTestUrl() === undefined ? ['pglite'] : ['pglite', 'postgres'];
}

/** A running `keel serve` for the console. */
export interface ConsoleServer {
  url: string;
  /** The one-time sign-in link it printed (embedded database only). */
  loginLink?: string;
  /** A key with `admin` (and `metrics`) in tenant `default`. */
  adminKey: string;
  process: KeelProcess;
  /** The server's environment (its data folder or database), to run `keel` commands against it. */
  env: Record<string, string>;
  /** Calls the API with the admin key (or `key`); throws on an error answer. */
  api<T = unknown>(path: string, init?: { method?: string; body?: unknown; key?: string }): Promise<T>;
  /** A new key in tenant `default` with these scopes. */
  createKey(scopes: string[], name?: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts `keel serve` (worker included) on a free port with the project's config (travel planner).
 * `beforeServe` gets the server's environment (its data folder or database) first, to seed what
 * no API writes: the embedded PGlite admits one process, so seeding waits for no server.
 */
export async function startConsoleServer(
  backend: 'pglite' | 'postgres',
  env: Record<string, string> = {},
  { beforeServe }: { beforeServe?: (env: Record<string, string>) => Promise<void> } = {},
): Promise<ConsoleServer> {
  assertBuilt();
  if (!existsSync(join(ROOT, 'dist', 'console', 'index.html')))
    throw new Error('dist/console is missing: run `npm run build` first.');
  const processes = createKeelProcesses();
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-console-'));
  let database: { url: string; drop(): Promise<void> } | undefined;
  const serverEnv: Record<string, string> = { KEEL_DATA_DIR: dataDir, ...env };
  let adminKey: string | undefined;
  if (backend === 'postgres') {
    const base = postgresTestUrl();
    if (base === undefined) throw new Error('KEEL_TEST_POSTGRES_URL is not set.');
    database = await createTestDatabase(base);
    serverEnv.DATABASE_URL = database.url;
    const created = await processes.runKeel(
      [
        'keys',
        'create',
        '--tenant',
        'default',
        '--scopes',
        'admin,metrics',
        '--name',
        'console tests',
        '--json',
      ],
      serverEnv,
    );
    adminKey = (JSON.parse(created.stdout()) as { key: string }).key;
  }
  const stop = async () => {
    await processes.killAll();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await beforeServe?.(serverEnv);
  } catch (error) {
    await stop();
    throw error;
  }
  const serve = processes.spawnKeel(['serve', '--port', '0'], serverEnv);
  try {
    const started = await waitFor(
      'keel serve printed its address',
      () =>
        /Keel is serving .* at (http:\/\/\S+)/.exec(serve.stderr()) ??
        (serve.child.exitCode !== null ? 'exited' : null),
      (value) => value !== null,
      60_000,
    );
    if (started === null || started === 'exited') throw new Error(`keel serve exited:\n${serve.stderr()}`);
    const url = started[1]!;
    // The console line follows the address line in the same write.
    await waitFor('the console line', () => /console: /.test(serve.stderr()), Boolean, 5_000);
    const loginLink = /console: (http:\/\/\S+#login=\S+)/.exec(serve.stderr())?.[1];
    adminKey ??= /Created a local admin API key[^\n]*\n\s+(keel_sk_\S+)/.exec(serve.stderr())?.[1];
    adminKey ??= readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
    const key = adminKey;
    async function api<T>(
      path: string,
      init: { method?: string; body?: unknown; key?: string } = {},
    ): Promise<T> {
      const response = await fetch(url + path, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: {
          authorization: `Bearer ${init.key ?? key}`,
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${text}`);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    }
    return {
      url,
      ...(loginLink === undefined ? {} : { loginLink }),
      adminKey: key,
      process: serve,
      env: serverEnv,
      api,
      async createKey(scopes, name = 'console test key') {
        const created = await api<{ key: string }>('/v1/keys', { body: { scopes, name } });
        return created.key;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Debian's Chromium, headless, as the brief says. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A fresh context (its own sessionStorage) and page; console errors are collected. */
export async function openPage(
  browser: Browser,
  options: { colorScheme?: 'light' | 'dark'; width?: number } = {},
): Promise<{ context: BrowserContext; page: Page; consoleErrors: string[] }> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: 860 },
    colorScheme: options.colorScheme ?? 'light',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  return { context, page, consoleErrors };
}

/** Signs in by pasting `key` on the sign-in form; resolves once the console's frame shows. */
export async function signInWithKey(page: Page, url: string, key: string, path = '/'): Promise<void> {
  await page.goto(url + path);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Console' }).waitFor();
}

/** The console's key in the page's `sessionStorage` (null when signed out). */
export async function storedKey(page: Page): Promise<string | null> {
  return (await page.evaluate("sessionStorage.getItem('keel.console.key')")) as string | null;
}

/** Saves a full-page screenshot as `test-artifacts/console/<name>.png` (kept by CI as an artifact). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** axe-core's violations at serious or critical level on the page as it is now. */
export async function seriousA11yViolations(
  page: Page,
): Promise<{ id: string; impact: string; help: string; nodes: string[] }[]> {
  // Strings, not functions: this file is compiled for Node, the code runs in the page.
  const loaded = (await page.evaluate("typeof window.axe !== 'undefined'")) as boolean;
  // Evaluated through the DevTools protocol, so the console's CSP (no inline scripts) stays on.
  if (!loaded) await page.evaluate(readFileSync(AXE_SOURCE, 'utf8'));
  const results = (await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")) as {
    violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
  };
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact ?? '',
      help: violation.help,
      nodes: violation.nodes.map((node) => JSON.stringify(node.target)),
    }));
}
