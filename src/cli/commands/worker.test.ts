import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition } from '../../metrics/__fixtures__/parse-exposition.js';
import { main } from '../main.js';

let directory: string;
let config: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'keel-worker-cli-'));
  config = join(directory, 'keel.config.mjs');
  writeFileSync(
    config,
    `export default { agents: [{ name: 'echo', instructions: 'Repeat.', model: 'builtin:echo' }] };\n`,
  );
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function io(signal = new AbortController().signal, env: Record<string, string> = {}) {
  const output = { stdout: '', stderr: '' };
  return {
    output,
    io: {
      stdout: { write: (text: string) => (output.stdout += text) },
      stderr: { write: (text: string) => (output.stderr += text) },
      env: {
        KEEL_DATA_DIR: join(directory, '.keel'),
        KEEL_LOG_LEVEL: 'silent',
        PATH: process.env.PATH,
        ...env,
      },
      cwd: directory,
      signal,
    },
  };
}

describe('keel worker --metrics-port', { timeout: 120_000 }, () => {
  it('refuses bad metrics flags and settings before opening anything (exit 2)', async () => {
    for (const [args, env, message] of [
      [['--metrics-port', 'x'], {}, '--metrics-port must be 0-65535'],
      [['--metrics-port', '70000'], {}, '--metrics-port must be 0-65535'],
      [['--metrics-host', '0.0.0.0'], {}, '--metrics-host needs --metrics-port'],
      [['--metrics-port', '0'], { KEEL_METRICS_PUBLIC: 'yes' }, 'KEEL_METRICS_PUBLIC must be true or false'],
    ] as const) {
      const run = io(undefined, env);
      expect(await main(['worker', ...args, '--config', config], run.io)).toBe(2);
      expect(run.output.stderr).toContain(message);
    }
  });

  it('serves the worker’s metrics with the API’s scrape auth until SIGTERM', async () => {
    const created = io();
    expect(
      await main(['keys', 'create', '--tenant', 'ops', '--scopes', 'metrics', '--json'], created.io),
    ).toBe(0);
    const { key } = JSON.parse(created.output.stdout) as { key: string };
    const admin = io();
    expect(await main(['keys', 'create', '--tenant', 'ops', '--scopes', 'admin', '--json'], admin.io)).toBe(
      0,
    );
    const adminKey = (JSON.parse(admin.output.stdout) as { key: string }).key;

    const controller = new AbortController();
    const served = io(controller.signal);
    const running = main(['worker', '--metrics-port', '0', '--config', config], served.io);
    const deadline = Date.now() + 30_000;
    let url: string | undefined;
    while (url === undefined && Date.now() < deadline) {
      url = /metrics at (http:\/\/\S+)\n/.exec(served.output.stderr)?.[1];
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(url, served.output.stderr).toBeDefined();
    try {
      const anonymous = await fetch(url!);
      expect(anonymous.status).toBe(401);
      expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      const forbidden = await fetch(url!, { headers: { authorization: `Bearer ${adminKey}` } });
      expect(forbidden.status).toBe(403);
      expect(((await forbidden.json()) as { error: { code: string } }).error.code).toBe('forbidden');
      expect(
        (await fetch(url!, { method: 'POST', headers: { authorization: `Bearer ${key}` } })).status,
      ).toBe(405);
      const scraped = await fetch(url!, { headers: { authorization: `Bearer ${key}` } });
      expect(scraped.status).toBe(200);
      const exposition = parseExposition(await scraped.text());
      expect(exposition.value('keel_queue_depth')).toBe(0);
      expect(exposition.value('keel_scrape_database_up')).toBe(1);
      exposition.family('keel_runs_total', 'COUNTER');
      exposition.family('keel_process_resident_memory_bytes', 'GAUGE');
      expect((await fetch(url!.replace(/\/metrics$/, '/healthz'))).status).toBe(200);
      expect((await fetch(url!.replace(/\/metrics$/, '/nope'))).status).toBe(404);
    } finally {
      controller.abort();
    }
    expect(await running).toBe(0);
  });
});
