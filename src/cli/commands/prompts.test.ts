import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../journal/open-store.js';
import { runCli } from '../__fixtures__/run-cli.js';

const CONFIG = ['--config', join(import.meta.dirname, '../__fixtures__/echo.config.ts')];

/**
 * `keel prompts`, `keel audit` and `keel erase` on the embedded database, as an operator at the
 * terminal would run them (direct mode: no server holds the database).
 */
describe('keel prompts, audit and erase', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'keel-prompts-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const keel = (args: string[]) => runCli(args, { dataDir, cwd: dataDir, env: { USER: 'ops-alice' } });
  const file = (name: string, text: string) => {
    writeFileSync(join(dataDir, name), text);
    return name;
  };

  it('pushes, lists, shows, pins and rolls back; a run records the pinned version', async () => {
    const pushed = await keel([
      'prompts',
      'push',
      'echo',
      '--file',
      file('v1.md', 'Repeat, loudly.\n'),
      '--note',
      'loud',
      ...CONFIG,
    ]);
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toMatch(
      /^Pushed echo v1 \(sha256 [0-9a-f]{12}\)\. Pin it to use it: keel prompts pin echo v1$/m,
    );
    const second = await keel([
      'prompts',
      'push',
      'echo',
      '--file',
      file('v2.md', 'Repeat, softly.'),
      '--json',
      ...CONFIG,
    ]);
    expect(JSON.parse(second.stdout)).toMatchObject({
      created: true,
      version: { version: 'v2', created_by: 'cli:ops-alice' },
    });

    const pinned = await keel(['prompts', 'pin', 'echo', 'v1', ...CONFIG]);
    expect(pinned.stdout).toBe('echo: v1 pinned; new runs use it.\n');
    expect((await keel(['prompts', 'pin', 'echo', 'v2', ...CONFIG])).stdout).toMatch(
      /v2 pinned.*Before: v1\./,
    );

    const listed = await keel(['prompts', 'list', 'echo', ...CONFIG]);
    expect(listed.stdout).toMatch(/^VERSION +PINNED +CREATED/m);
    expect(listed.stdout).toMatch(/^v2 +\* +\S+ +cli:ops-alice/m);
    expect(listed.stdout).toMatch(/^v1 +\S+ +cli:ops-alice +[0-9a-f]{12} +loud$/m);
    const shown = await keel(['prompts', 'show', 'echo', ...CONFIG]);
    expect(shown.stdout).toMatch(/^echo v2 .*\n\nRepeat, softly\.\n$/);
    expect(JSON.parse((await keel(['prompts', 'show', 'echo', 'v1', '--json', ...CONFIG])).stdout).text).toBe(
      'Repeat, loudly.\n',
    );

    const run = await keel(['run', 'echo', 'hi', '--detach', '--json', ...CONFIG]);
    const { id } = JSON.parse(run.stdout) as { id: string };
    const shownRun = JSON.parse((await keel(['show', id, '--json'])).stdout) as { prompt_version: string };
    expect(shownRun.prompt_version).toBe('v2');

    expect((await keel(['prompts', 'rollback', 'echo', ...CONFIG])).stdout).toBe(
      'echo: v1 pinned; new runs use it.\n',
    );
    expect((await keel(['prompts', 'rollback', 'echo', ...CONFIG])).stdout).toMatch(
      /^echo: nothing pinned; new runs use the instructions in code \(code:[0-9a-f]{12}\)\.$/m,
    );

    const audit = await keel(['audit', '--action', 'prompt.*', '--json']);
    const page = JSON.parse(audit.stdout) as { data: { action: string; actor: string }[] };
    expect(page.data.map((entry) => entry.action)).toEqual([
      'prompt.rollback',
      'prompt.rollback',
      'prompt.pin',
      'prompt.pin',
      'prompt.push',
      'prompt.push',
    ]);
    expect(new Set(page.data.map((entry) => entry.actor))).toEqual(new Set(['cli:ops-alice']));
    const table = await keel(['audit', '--target', 'prompt:echo', '--limit', '2']);
    expect(table.stdout).toMatch(/^ID +AT +TENANT +ACTOR +ACTION +TARGET +CHANGE$/m);
    expect(table.stdout).toMatch(/prompt\.rollback +prompt:echo +\{"version":"v1"\} → \{"version":null\}/);
    expect(table.stdout).toMatch(/^More: --cursor \S+$/m);
  }, 240_000);

  it('refuses bad input with a usage exit code and a stable code', async () => {
    const unknown = await keel(['prompts', 'push', 'nobody', '--file', file('x.md', 'x'), ...CONFIG]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/\[unknown_agent\]/);
    const empty = await keel(['prompts', 'push', 'echo', '--file', file('empty.md', '\n  \n'), ...CONFIG]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/\[prompt_empty\]/);
    const missing = await keel(['prompts', 'push', 'echo', '--file', 'no-such.md', ...CONFIG]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Cannot read the prompt file/);
    const noVersion = await keel(['prompts', 'pin', 'echo', 'v99', ...CONFIG]);
    expect(noVersion.code).toBe(2);
    expect(noVersion.stderr).toMatch(/\[prompt_version_not_found\]/);
    expect((await keel(['prompts', 'pin', 'echo', ...CONFIG])).code).toBe(2);
    expect((await keel(['prompts', 'push', 'echo', ...CONFIG])).code).toBe(2);
    expect((await keel(['prompts', 'frobnicate', 'echo', ...CONFIG])).code).toBe(2);
    expect((await keel(['prompts', 'list', 'echo', '--user', 'u', ...CONFIG])).code).toBe(2);
    const cursor = await keel(['audit', '--cursor', 'nope']);
    expect(cursor.code).toBe(2);
    expect(cursor.stderr).toMatch(/\[invalid_cursor\]/);
    expect((await keel(['audit', '--since', 'yesterday'])).code).toBe(2);
    expect((await keel(['erase'])).code).toBe(2);
  }, 240_000);

  it("erases a user's runs and audits the request with counts", async () => {
    const { store } = await openStore({ dataDir: join(dataDir, 'data') });
    try {
      await store.createRun({ agent: 'echo', input: 'secret of carol', userId: 'carol', sessionId: 'ses_c' });
      await store.createRun({ agent: 'echo', input: 'second message', userId: 'carol', sessionId: 'ses_c' });
      await store.createRun({ agent: 'echo', input: 'dave', userId: 'dave' });
    } finally {
      await store.close();
    }
    const erased = await keel(['erase', '--user', 'carol']);
    expect(erased.code).toBe(0);
    expect(erased.stdout).toMatch(/^Erased user carol in tenant default: 2 runs, 1 sessions, /);
    const runs = JSON.parse((await keel(['runs', '--json'])).stdout) as { user_id: string | null }[];
    expect(runs.some((run) => run.user_id === 'carol')).toBe(false);
    expect(runs.some((run) => run.user_id === 'dave')).toBe(true);
    const audit = JSON.parse((await keel(['audit', '--action', 'user.erase', '--json'])).stdout) as {
      data: { target: string; actor: string; details: { runs: number } }[];
    };
    expect(audit.data[0]).toMatchObject({
      target: 'user:carol',
      actor: 'cli:ops-alice',
      details: { runs: 2 },
    });
  }, 120_000);
});
