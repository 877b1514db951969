import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAnalytics } from '../analytics/analytics-store.js';
import { auditTable, toAuditRecord, type AuditRow } from '../journal/audit-log.js';
import { migrate } from '../journal/migrations.js';
import { openStore } from '../journal/open-store.js';
import type { SqlClient } from '../journal/sql-client.js';
import { defineAgent } from '../runtime/agent.js';
import { promptVersionOf } from '../runtime/prompt-version.js';
import { describeOnBothBackends } from '../testing/sql-contract.js';
import {
  createPromptRegistry,
  isRegistryVersion,
  versionNumberOf,
  type PromptRegistry,
} from './prompt-registry.js';
import { resolvePromptVersion } from '../runtime/resolve-prompt-version.js';

const ADMIN = { tenantId: 'acme', actor: 'key:key_admin' };

function registryContract(
  open: () => Promise<{ client: SqlClient; schema: string; close(): Promise<void> }>,
) {
  let client: SqlClient;
  let schema: string;
  let close: () => Promise<void>;
  let prompts: PromptRegistry;
  beforeEach(async () => {
    ({ client, schema, close } = await open());
    await migrate(client, { schema });
    prompts = createPromptRegistry({ client, schema });
  });
  afterEach(() => close());

  const audit = async () =>
    (await client.query<AuditRow>(`SELECT * FROM ${auditTable(schema)} ORDER BY id`)).rows.map(toAuditRecord);

  it('numbers pushed versions per tenant and agent, keeps text, note, sha256 and author exactly', async () => {
    const text = 'You plan trips.\n\u0000 nul and lone \ud800 kept';
    const first = await prompts.push({ ...ADMIN, agent: 'planner', text, note: 'first cut' });
    expect(first.created).toBe(true);
    expect(first.version).toMatchObject({
      tenantId: 'acme',
      agent: 'planner',
      version: 'v1',
      text,
      note: 'first cut',
      sha256: createHash('sha256').update(text, 'utf8').digest('hex'),
      createdBy: 'key:key_admin',
    });
    const second = await prompts.push({ ...ADMIN, agent: 'planner', text: 'You plan trips. Be brief.' });
    expect(second.version.version).toBe('v2');
    expect(second.version.note).toBeNull();
    // Another agent and another tenant count from v1 on their own.
    expect((await prompts.push({ ...ADMIN, agent: 'support', text: 'Help.' })).version.version).toBe('v1');
    expect(
      (await prompts.push({ tenantId: 'other', actor: 'key:k2', agent: 'planner', text: 'Hi.' })).version
        .version,
    ).toBe('v1');

    const listed = await prompts.list({ tenantId: 'acme', agent: 'planner' });
    expect(listed.versions.map((version) => version.version)).toEqual(['v2', 'v1']);
    expect(listed.versions[0]).not.toHaveProperty('text');
    expect(listed.pin).toBeUndefined();
    expect((await prompts.get({ tenantId: 'acme', agent: 'planner', version: 'v1' })).text).toBe(text);
    expect((await audit()).filter((row) => row.action === 'prompt.push')).toHaveLength(4);
  });

  it('pushing the newest text again stores nothing; concurrent pushes get distinct numbers', async () => {
    await prompts.push({ ...ADMIN, agent: 'planner', text: 'A' });
    const again = await prompts.push({ ...ADMIN, agent: 'planner', text: 'A' });
    expect(again.created).toBe(false);
    expect(again.version.version).toBe('v1');
    const pushed = await Promise.all(
      ['B', 'C', 'D', 'E'].map((text) => prompts.push({ ...ADMIN, agent: 'planner', text })),
    );
    expect(pushed.map((result) => result.version.version).sort()).toEqual(['v2', 'v3', 'v4', 'v5']);
  });

  it('refuses an empty or oversized prompt and unknown versions, with stable codes', async () => {
    await expect(prompts.push({ ...ADMIN, agent: 'planner', text: ' \n\t' })).rejects.toMatchObject({
      code: 'prompt_empty',
    });
    await expect(
      prompts.push({ ...ADMIN, agent: 'planner', text: 'x'.repeat(200_001) }),
    ).rejects.toMatchObject({
      code: 'prompt_too_large',
    });
    await prompts.push({ ...ADMIN, agent: 'planner', text: 'A' });
    for (const version of ['v2', 'v0', 'latest', ''])
      await expect(prompts.get({ tenantId: 'acme', agent: 'planner', version })).rejects.toMatchObject({
        code: 'prompt_version_not_found',
      });
    await expect(prompts.pin({ ...ADMIN, agent: 'planner', version: 'v9' })).rejects.toMatchObject({
      code: 'prompt_version_not_found',
    });
    // Another tenant's version is not this tenant's.
    await expect(
      prompts.pin({ tenantId: 'other', actor: 'key:k2', agent: 'planner', version: 'v1' }),
    ).rejects.toMatchObject({ code: 'prompt_version_not_found' });
    await expect(prompts.rollback({ ...ADMIN, agent: 'planner' })).rejects.toMatchObject({
      code: 'prompt_not_pinned',
    });
    expect((await audit()).map((row) => row.action)).toEqual(['prompt.push']);
  });

  it('pins, rolls back to the version pinned before, then to the code, each audited with before and after', async () => {
    for (const text of ['A', 'B', 'C']) await prompts.push({ ...ADMIN, agent: 'planner', text });
    expect(await prompts.pinnedVersion({ tenantId: 'acme', agent: 'planner' })).toBeUndefined();
    await prompts.pin({ ...ADMIN, agent: 'planner', version: 'v1' });
    await prompts.pin({ ...ADMIN, agent: 'planner', version: '3' });
    const same = await prompts.pin({ ...ADMIN, agent: 'planner', version: 'v3' });
    expect(same).toMatchObject({ version: 'v3', previous: ['v1'], pinnedBy: 'key:key_admin' });
    expect(await prompts.pinnedVersion({ tenantId: 'acme', agent: 'planner' })).toBe('v3');
    expect(await prompts.pinnedVersion({ tenantId: 'other', agent: 'planner' })).toBeUndefined();

    expect(await prompts.rollback({ ...ADMIN, agent: 'planner' })).toMatchObject({
      version: 'v1',
      previous: [],
    });
    expect((await prompts.list({ tenantId: 'acme', agent: 'planner' })).pin?.version).toBe('v1');
    expect(await prompts.rollback({ ...ADMIN, agent: 'planner' })).toBeUndefined();
    expect(await prompts.pinnedVersion({ tenantId: 'acme', agent: 'planner' })).toBeUndefined();

    const governed = (await audit()).filter((row) => row.action !== 'prompt.push');
    expect(governed.map((row) => [row.action, row.before, row.after])).toEqual([
      ['prompt.pin', { version: null }, { version: 'v1' }],
      ['prompt.pin', { version: 'v1' }, { version: 'v3' }],
      ['prompt.rollback', { version: 'v3' }, { version: 'v1' }],
      ['prompt.rollback', { version: 'v1' }, { version: null }],
    ]);
    expect(governed.every((row) => row.target === 'prompt:planner' && row.tenantId === 'acme')).toBe(true);
  });

  it('a run records the pinned version when created; its text resolves, a later pin does not change it', async () => {
    const agent = defineAgent({ name: 'planner', instructions: 'Code instructions.', model: 'builtin:echo' });
    const codeVersion = promptVersionOf(agent);
    expect(await resolvePromptVersion({ prompts, agent, tenantId: 'acme' })).toBe(codeVersion);
    expect(await resolvePromptVersion({ agent, tenantId: 'acme' })).toBe(codeVersion);
    await prompts.push({ ...ADMIN, agent: 'planner', text: 'Registry v1.' });
    await prompts.pin({ ...ADMIN, agent: 'planner', version: 'v1' });
    const recorded = await resolvePromptVersion({ prompts, agent, tenantId: 'acme' });
    expect(recorded).toBe('v1');
    await prompts.push({ ...ADMIN, agent: 'planner', text: 'Registry v2.' });
    await prompts.pin({ ...ADMIN, agent: 'planner', version: 'v2' });
    expect(await prompts.resolveInstructions('planner', 'acme', recorded)).toBe('Registry v1.');
    expect(await prompts.resolveInstructions('planner', 'acme', 'v2')).toBe('Registry v2.');
    expect(await prompts.resolveInstructions('planner', 'acme', codeVersion)).toBeUndefined();
    expect(await prompts.resolveInstructions('planner', 'acme', null)).toBeUndefined();
    await expect(prompts.resolveInstructions('planner', 'acme', 'v7')).rejects.toMatchObject({
      code: 'prompt_version_not_found',
    });
  });

  it('the database keeps a pin on a stored version only', async () => {
    await expect(
      client.query(
        `INSERT INTO ${schema}.prompt_pins (tenant_id, agent, version, pinned_by) VALUES ('acme', 'x', 1, 'k')`,
      ),
    ).rejects.toThrow();
  });
}

describe('version names', () => {
  it('reads v-names and plain numbers, nothing else', () => {
    expect(versionNumberOf('v12')).toBe(12);
    expect(versionNumberOf('12')).toBe(12);
    expect(versionNumberOf('v0')).toBeUndefined();
    expect(versionNumberOf('v1.5')).toBeUndefined();
    expect(isRegistryVersion('v3')).toBe(true);
    expect(isRegistryVersion('code:abc123')).toBe(false);
    expect(isRegistryVersion(null)).toBe(false);
  });
});

describeOnBothBackends('prompt registry', registryContract);

describe('analytics by prompt version', () => {
  it('groups registry versions per agent (`<agent>@v<n>`) beside the code versions', async () => {
    const { store, client } = await openStore({ dataDir: 'memory://' });
    try {
      const created = new Date();
      for (const [agent, promptVersion] of [
        ['planner', 'v1'],
        ['planner', 'v1'],
        ['support', 'v1'],
        ['support', 'code:abc123abc123'],
      ] as const)
        await store.createRun({ agent, input: 'x', promptVersion });
      const summary = await createAnalytics({ client }).summary({
        window: { from: new Date(created.getTime() - 60_000), to: new Date(created.getTime() + 60_000) },
        tenantId: null,
        groupBy: 'prompt_version',
      });
      const groups = 'groups' in summary && summary.groups !== undefined ? summary.groups : [];
      expect(groups.map((group) => [group.key, group.runs])).toEqual([
        ['planner@v1', 2],
        ['code:abc123abc123', 1],
        ['support@v1', 1],
      ]);
      // Compare and filters name the version as runs record it, with the agent.
      const planner = await createAnalytics({ client }).summary({
        window: { from: new Date(created.getTime() - 60_000), to: new Date(created.getTime() + 60_000) },
        tenantId: null,
        agent: 'planner',
        promptVersion: 'v1',
      });
      expect('runs' in planner ? planner.runs : undefined).toBe(2);
    } finally {
      await store.close();
    }
  });
});
