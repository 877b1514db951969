import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/__fixtures__/test-server.js';
import { processStartTime } from '../../util/process-identity.js';
import { runCli } from '../__fixtures__/run-cli.js';

/**
 * `keel prompts`, `keel audit` and `keel erase` through a running server that holds the
 * embedded database (the lock file names it): the CLI calls its API with the local admin key
 * (tenant `default`, scopes admin and operator), and the server checks agents and records the key.
 */
describe('keel prompts, audit and erase through the local server', () => {
  let app: TestServer;
  let keelDir: string;
  /** Stands in for the live `keel serve` that owns the embedded database. */
  let owner: ChildProcess;
  let adminKeyId: string;
  beforeAll(async () => {
    app = await startTestServer();
    const { key, record } = await app.apiKeys.create({ tenantId: 'default', scopes: ['admin', 'operator'] });
    adminKeyId = record.id;
    keelDir = mkdtempSync(join(tmpdir(), 'keel-prompts-remote-'));
    owner = spawn('sleep', ['300'], { stdio: 'ignore' });
    const identity = { pid: owner.pid as number, startTime: processStartTime(owner.pid as number) as string };
    writeFileSync(join(keelDir, 'lock'), JSON.stringify({ ...identity, url: app.url }));
    writeFileSync(join(keelDir, 'admin-key'), `${key}\n`);
    writeFileSync(join(keelDir, 'p.md'), 'Repeat, through the server.');
  });
  afterAll(async () => {
    owner.kill('SIGKILL');
    await app.close();
    rmSync(keelDir, { recursive: true, force: true });
  });

  const keel = (args: string[]) => runCli(args, { dataDir: keelDir, cwd: keelDir });

  it('pushes, pins, lists, shows and rolls back as the local admin key', async () => {
    const pushed = await keel(['prompts', 'push', 'echo', '--file', 'p.md', '--json']);
    expect(pushed.stderr).toBe('');
    expect(JSON.parse(pushed.stdout)).toMatchObject({
      created: true,
      version: { version: 'v1', created_by: `key:${adminKeyId}` },
    });
    expect(
      JSON.parse((await keel(['prompts', 'push', 'echo', '--file', 'p.md', '--json'])).stdout),
    ).toMatchObject({
      created: false,
    });
    expect((await keel(['prompts', 'pin', 'echo', 'v1'])).stdout).toBe('echo: v1 pinned; new runs use it.\n');
    expect((await keel(['prompts', 'show', 'echo'])).stdout).toMatch(/\n\nRepeat, through the server\.\n$/);
    expect((await keel(['prompts', 'list', 'echo'])).stdout).toMatch(/^v1 +\*/m);
    expect((await keel(['prompts', 'rollback', 'echo'])).stdout).toMatch(/nothing pinned/);

    const audit = JSON.parse((await keel(['audit', '--target', 'prompt:echo', '--json'])).stdout) as {
      data: { action: string; actor: string; tenant_id: string }[];
    };
    expect(audit.data.map((entry) => entry.action)).toEqual(['prompt.rollback', 'prompt.pin', 'prompt.push']);
    expect(
      audit.data.every((entry) => entry.actor === `key:${adminKeyId}` && entry.tenant_id === 'default'),
    ).toBe(true);
  });

  it("answers the server's errors with their codes, and refuses another tenant", async () => {
    const unknown = await keel(['prompts', 'list', 'nobody']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/\[unknown_agent\]/);
    const version = await keel(['prompts', 'show', 'echo', 'v42']);
    expect(version.code).toBe(2);
    expect(version.stderr).toMatch(/\[prompt_version_not_found\]/);
    const other = await keel(['prompts', 'list', 'echo', '--tenant', 'acme']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/acts for tenant "default" only/);
    expect((await keel(['erase', '--user', 'u', '--tenant', 'acme'])).code).toBe(2);
  });

  it('erases a user of tenant default and every tenant shows in the audit log', async () => {
    await app.store.createRun({ tenantId: 'default', agent: 'echo', input: 'x', userId: 'erin' });
    const erased = await keel(['erase', '--user', 'erin', '--json']);
    expect(JSON.parse(erased.stdout)).toMatchObject({
      user_id: 'erin',
      tenant_id: 'default',
      erased: { runs: 1 },
    });
    await app.call('/v1/prompts/echo', { method: 'POST', body: JSON.stringify({ text: 'tenant a' }) });
    const tenants = JSON.parse((await keel(['audit', '--json'])).stdout) as { data: { tenant_id: string }[] };
    // The fixture's keys of tenant-a and tenant-b were created (and audited) too.
    expect(new Set(tenants.data.map((entry) => entry.tenant_id))).toEqual(
      new Set(['default', 'tenant-a', 'tenant-b']),
    );
  });
});
