import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHeldError } from '../../controls/control-errors.js';
import { auditTable, toAuditRecord, type AuditRow } from '../../journal/audit-log.js';
import { openStore } from '../../journal/open-store.js';
import type { ControlView } from '../../server/control-routes.js';
import { EXIT, exitCodeFor } from '../exit-codes.js';
import { runCli } from '../__fixtures__/run-cli.js';

const ROOT = resolve(import.meta.dirname, '../../..');
let dataDir: string;
beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-controls-'));
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { dataDir, cwd: ROOT });

const listTools = async () => JSON.parse((await cli(['tools', 'list', '--json'])).stdout) as ControlView[];

describe('keel tools | deployments | agents', () => {
  it('disables and enables a tool (every agent, or one agent in one tenant), audited with the CLI user', async () => {
    expect(await cli(['tools', 'disable', 'weather', '--reason', 'API down'])).toMatchObject({
      code: 0,
      stdout: 'Tool weather disabled.\n',
    });
    expect(await cli(['tools', 'disable', 'places', '--agent', 'planner', '--tenant', 'acme'])).toMatchObject(
      {
        code: 0,
        stdout: 'Tool places disabled for agent planner in tenant acme.\n',
      },
    );
    expect(await listTools()).toEqual([
      expect.objectContaining({ target: 'weather', tenant_id: '*', agent: null, reason: 'API down' }),
      expect.objectContaining({ target: 'places', tenant_id: 'acme', agent: 'planner' }),
    ]);
    expect((await cli(['tools', 'list'])).stdout).toMatch(/weather\s+\*\s+\*\s+API down/);
    expect(await cli(['tools', 'enable', 'weather'])).toMatchObject({
      code: 0,
      stdout: 'Tool weather enabled.\n',
    });
    expect((await cli(['tools', 'enable', 'weather'])).stdout).toBe(
      'Tool weather was not disabled: nothing to do.\n',
    );
    expect((await listTools()).map((view) => view.target)).toEqual(['places']);

    const { store, client } = await openStore({ dataDir: join(dataDir, 'data') });
    try {
      const rows = (await client.query<AuditRow>(`SELECT * FROM ${auditTable()} ORDER BY id`)).rows.map(
        toAuditRecord,
      );
      expect(rows.map((row) => [row.action, row.target])).toEqual([
        ['control.set', 'tool:weather'],
        ['control.set', 'tool:places'],
        ['control.clear', 'tool:weather'],
      ]);
      expect(rows[0]!.actor).toMatch(/^cli:/);
    } finally {
      await store.close();
    }
  });

  it('disables a deployment and pauses and resumes an agent', async () => {
    expect((await cli(['deployments', 'disable', 'openai-eu'])).stdout).toBe(
      'Deployment openai-eu disabled.\n',
    );
    expect((await cli(['deployments', 'enable', 'openai-eu'])).stdout).toBe(
      'Deployment openai-eu enabled.\n',
    );
    const paused = await cli(['agents', 'pause', 'planner', '--reason', 'spend', '--json']);
    expect(JSON.parse(paused.stdout)).toMatchObject({
      kind: 'agent_paused',
      target: 'planner',
      tenant_id: '*',
    });
    expect((await cli(['agents', 'resume', 'planner'])).stdout).toBe('Agent planner resumed.\n');
  });

  it('answers bad input with usage (exit 2) and a malformed name with invalid_control', async () => {
    expect((await cli(['tools', 'explode', 'x'])).code).toBe(EXIT.usage);
    expect((await cli(['tools', 'disable'])).code).toBe(EXIT.usage);
    expect((await cli(['agents', 'pause', 'planner', '--agent', 'x'])).code).toBe(EXIT.usage);
    expect((await cli(['deployments', 'disable', 'd', '--tenant', 'acme'])).code).toBe(EXIT.usage);
    const bad = await cli(['tools', 'disable', 'two words']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/invalid_control/);
  });

  it('exits 6 when a run is refused because its agent is paused or disabled', () => {
    const paused = new AgentHeldError('agent_paused', 'planner', { reason: '', setBy: 'system:breaker' });
    expect(exitCodeFor(paused)).toBe(EXIT.agentHeld);
    expect(exitCodeFor(new AgentHeldError('agent_disabled', 'planner', { reason: '', setBy: 'x' }))).toBe(6);
  });
});
