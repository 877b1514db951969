import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCaptureScenario, type SeededRuns } from '../../evals/__fixtures__/seed-captured-runs.js';
import { loadSuite } from '../../evals/suite.js';
import { openStore, type OpenStoreOptions } from '../../journal/open-store.js';
import { createFakeClock } from '../../testing/fake-clock.js';
import { createTestSchemaName, describePostgres } from '../../testing/postgres.js';
import { processStartTime } from '../../util/process-identity.js';
import { startTestServer, type TestServer } from '../../server/__fixtures__/test-server.js';
import type { CliIo } from '../cli-io.js';
import { evalCaptureCommand, type EvalCaptureFlags } from './eval-capture.js';

/** Runs the command in-process with `env`, capturing what it prints. */
async function capture(flags: EvalCaptureFlags, env: NodeJS.ProcessEnv, cwd: string) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { KEEL_LOG_LEVEL: 'error', ...env },
    cwd,
    signal: new AbortController().signal,
  };
  const code = await evalCaptureCommand(flags, io);
  return { code, stdout, stderr };
}

/** The same checks over either backend: `env` points the command at the seeded database. */
function captureContract(
  name: string,
  setUp: () => Promise<{ env: NodeJS.ProcessEnv; cwd: string; runs: SeededRuns }>,
) {
  describe(name, () => {
    let env: NodeJS.ProcessEnv;
    let cwd: string;
    let runs: SeededRuns;
    beforeAll(async () => {
      ({ env, cwd, runs } = await setUp());
    }, 120_000);

    it('writes a suite file that loads back, with the runs it matched', async () => {
      const written = await capture({ agent: 'travel', output: 'captured.yaml' }, env, cwd);
      expect(written.code).toBe(0);
      expect(written.stderr).toBe(
        'Captured 4 cases (2 regression) from 5 ended runs of travel; wrote captured.yaml.\n',
      );
      const suite = await loadSuite(join(cwd, 'captured.yaml'));
      expect(suite.agent).toBe('travel');
      expect(suite.cases.map((each) => each.id)).toEqual([
        runs.safe.id,
        runs.rome.id,
        runs.paris.id,
        runs.quiet.id,
      ]);
      expect(readFileSync(join(cwd, 'captured.yaml'), 'utf8')).toContain(
        `# Captured from run ${runs.paris.id}`,
      );
    });

    it('filters by outcome and feedback, honours --limit, and prints YAML on stdout without -o', async () => {
      const committed = await capture({ agent: 'travel', outcome: 'committed' }, env, cwd);
      expect(committed.code).toBe(0);
      expect(committed.stdout).toMatch(/^# Captured by keel eval capture at /);
      expect(committed.stdout).toContain(`- id: ${runs.paris.id}`);
      expect(committed.stdout).not.toContain(`- id: ${runs.rome.id}`);

      const negative = await capture(
        { agent: 'travel', feedback: 'negative', limit: '1', output: 'negative.yaml', json: true },
        env,
        cwd,
      );
      expect(JSON.parse(negative.stdout)).toEqual({
        file: 'negative.yaml',
        agent: 'travel',
        cases: 1,
        regression: 1,
        scanned: 5,
        ids: [runs.safe.id],
      });
      const rejected = await capture(
        { agent: 'travel', outcome: 'rejected', output: 'r.yaml', json: true },
        env,
        cwd,
      );
      expect(JSON.parse(rejected.stdout)).toMatchObject({ ids: [runs.rome.id] });
      const other = await capture({ agent: 'support', output: 's.yaml', json: true }, env, cwd);
      expect(JSON.parse(other.stdout)).toMatchObject({ ids: [runs.otherAgent.id] });
    });

    it('says so when no run matched, and refuses a file it cannot write', async () => {
      const none = await capture({ agent: 'nobody', output: 'none.yaml' }, env, cwd);
      expect(none.stderr).toBe(
        'Captured 0 cases (0 regression) from 0 ended runs of nobody; wrote none.yaml.\n',
      );
      expect((await loadSuite(join(cwd, 'none.yaml'))).cases).toEqual([]);
      const unwritable = await capture({ agent: 'travel', output: 'no/such/folder/x.yaml' }, env, cwd).catch(
        (caught: unknown) => caught,
      );
      expect(unwritable).toMatchObject({
        code: 'usage',
        message: expect.stringMatching(/^Cannot write no\/such/),
      });
    });
  });
}

captureContract('keel eval capture on the embedded database', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'keel-capture-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));
  const keelDir = join(cwd, 'keel');
  const runs = await seed({ dataDir: join(keelDir, 'data') });
  return { env: { KEEL_DATA_DIR: keelDir }, cwd, runs };
});

describePostgres('keel eval capture on Postgres', (connectionString) => {
  // The command opens DATABASE_URL in the `keel` schema, so it gets a database of its own.
  const database = createTestSchemaName();
  const url = new URL(connectionString);
  url.pathname = `/${database}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  afterAll(() => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  captureContract('over DATABASE_URL', async () => {
    await admin(`CREATE DATABASE ${database}`);
    const cwd = mkdtempSync(join(tmpdir(), 'keel-capture-pg-'));
    afterAll(() => rmSync(cwd, { recursive: true, force: true }));
    const runs = await seed({ databaseUrl: url.toString() });
    return { env: { DATABASE_URL: url.toString() }, cwd, runs };
  });
});

async function seed(location: Pick<OpenStoreOptions, 'dataDir' | 'databaseUrl'>): Promise<SeededRuns> {
  const clock = createFakeClock();
  const { store, client } = await openStore({ ...location, clock });
  try {
    return await seedCaptureScenario(store, client, { clock });
  } finally {
    await store.close();
  }
}

describe('keel eval capture refuses bad flags', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = mkdtempSync(join(tmpdir(), 'keel-capture-flags-'));
  });
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));
  const env = () => ({ KEEL_DATA_DIR: join(cwd, 'keel') });

  it.each([
    [{}, /^--agent is required\./],
    [{ agent: ' ' }, /^--agent is required\./],
    [{ agent: 'travel', outcome: 'accepted' }, /^Unknown --outcome "accepted": use committed or rejected\./],
    [{ agent: 'travel', feedback: 'positive' }, /^Unknown --feedback "positive": use negative\./],
    [{ agent: 'travel', limit: '0' }, /^--limit must be a positive integer, got "0"\./],
    [{ agent: 'travel', limit: '2.5' }, /^--limit must be a positive integer, got "2.5"\./],
    [{ agent: 'travel', limit: 'ten' }, /^--limit must be a positive integer, got "ten"\./],
    [{ agent: 'travel', json: true }, /^--json prints a summary: give -o/],
  ] as [EvalCaptureFlags, RegExp][])('%j → usage error', async (flags, message) => {
    const error = await capture(flags, env(), cwd).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'usage', message: expect.stringMatching(message) });
  });
});

describe('keel eval capture through the local server that owns the database', () => {
  let app: TestServer;
  let owner: ChildProcess;
  let cwd: string;
  let runs: SeededRuns;
  const env = () => ({ KEEL_DATA_DIR: join(cwd, 'keel') });
  beforeAll(async () => {
    app = await startTestServer();
    owner = spawn('sleep', ['120'], { stdio: 'ignore' });
    cwd = mkdtempSync(join(tmpdir(), 'keel-capture-remote-'));
    // The test server's admin key is tenant-a's: the runs go there, so the API shows them.
    runs = await seedCaptureScenario(app.store, app.client, { tenantId: 'tenant-a' });
    const keelDir = join(cwd, 'keel');
    mkdirSync(keelDir, { recursive: true });
    const pid = owner.pid as number;
    writeFileSync(
      join(keelDir, 'lock'),
      JSON.stringify({ pid, startTime: processStartTime(pid), url: app.url }),
    );
    writeFileSync(join(keelDir, 'admin-key'), `${app.keys.admin}\n`);
  }, 60_000);
  afterAll(async () => {
    owner?.kill('SIGKILL');
    await app?.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('reads runs, outcomes, feedback and cassettes from the API, and writes the same cases', async () => {
    const all = await capture({ agent: 'travel', output: 'remote.yaml' }, env(), cwd);
    expect(all.stderr).toBe(
      'Captured 4 cases (2 regression) from 5 ended runs of travel; wrote remote.yaml.\n',
    );
    const suite = await loadSuite(join(cwd, 'remote.yaml'));
    expect(suite.cases.map((each) => each.id)).toEqual([
      runs.safe.id,
      runs.rome.id,
      runs.paris.id,
      runs.quiet.id,
    ]);
    const paris = suite.cases.find((each) => each.id === runs.paris.id)!;
    expect(paris.session).toEqual([
      { role: 'user', content: 'I like quiet places.' },
      { role: 'assistant', content: 'Noted: quiet places.' },
    ]);
    expect(paris.expect[0]).toMatchObject({ kind: 'trajectory', steps: [{ name: 'get_weather' }, {}, {}] });

    const rejected = await capture(
      { agent: 'travel', outcome: 'rejected', output: 'r.yaml', json: true },
      env(),
      cwd,
    );
    expect(JSON.parse(rejected.stdout)).toMatchObject({ ids: [runs.rome.id] });
    const negative = await capture(
      { agent: 'travel', feedback: 'negative', output: 'n.yaml', json: true },
      env(),
      cwd,
    );
    expect(JSON.parse(negative.stdout)).toMatchObject({ ids: [runs.safe.id, runs.rome.id] });
  });

  it("refuses another tenant than the local admin key's", async () => {
    const error = await capture({ agent: 'travel', tenant: 'acme' }, env(), cwd).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({
      code: 'usage',
      message: expect.stringContaining('reads tenant default only'),
    });
  });
});
