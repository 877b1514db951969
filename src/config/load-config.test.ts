import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findConfigPath, loadConfig } from './load-config.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});
function folder(): string {
  const directory = mkdtempSync(join(tmpdir(), 'keel-config-'));
  directories.push(directory);
  return directory;
}

const CONFIG = `import { defineAgent, defineConfig, defineTool, z } from 'keel';
const hello = defineTool({ name: 'hello', description: 'Greets.', input: z.object({ who: z.string() }), run: ({ who }) => 'hi ' + who });
export default defineConfig({ agents: [defineAgent({ name: 'greeter', instructions: 'Greet.', model: 'builtin:echo', tools: [hello] })] });
`;

describe('loadConfig', () => {
  it("loads a TypeScript config outside the project that imports from 'keel'", async () => {
    const directory = folder();
    writeFileSync(join(directory, 'keel.config.ts'), CONFIG);
    const { agents, path } = await loadConfig({ cwd: directory, env: {} });
    expect(path).toBe(join(directory, 'keel.config.ts'));
    const greeter = agents.get('greeter');
    expect(greeter?.tools[0]?.spec.parameters).toMatchObject({ type: 'object', required: ['who'] });
    expect(await greeter?.tools[0]?.run({ who: 'Ada' }, {} as never)).toBe('hi Ada');
  });

  it('accepts a JavaScript config with a named agents export, found through KEEL_CONFIG', async () => {
    const directory = folder();
    writeFileSync(
      join(directory, 'agents.mjs'),
      `import { defineAgent } from 'keel';\nexport const agents = [defineAgent({ name: 'js', instructions: 'x', model: 'builtin:echo' })];\n`,
    );
    const { agents } = await loadConfig({ cwd: directory, env: { KEEL_CONFIG: 'agents.mjs' } });
    expect([...agents.keys()]).toEqual(['js']);
  });

  it('names what it looked for when there is no config', () => {
    expect(() => findConfigPath({ cwd: folder(), env: {} })).toThrow(/No keel.config.ts/);
  });

  it('rejects a config defining one agent twice', async () => {
    const directory = folder();
    writeFileSync(
      join(directory, 'keel.config.ts'),
      `import { defineAgent } from 'keel';\nconst a = defineAgent({ name: 'dup', instructions: 'x', model: 'builtin:echo' });\nexport default { agents: [a, a] };\n`,
    );
    await expect(loadConfig({ cwd: directory, env: {} })).rejects.toMatchObject({ code: 'config_invalid' });
  });

  it('loads the tool policy (environments or toolPolicy) and spendBreakers, and names the field of a malformed one', async () => {
    const directory = folder();
    const write = (sections: string) =>
      writeFileSync(
        join(directory, 'keel.config.ts'),
        `import { defineAgent, defineConfig } from 'keel';\n` +
          `export default defineConfig({ agents: [defineAgent({ name: 'a', instructions: 'x', model: 'builtin:echo' })], ${sections} });\n`,
      );
    write(
      `toolPolicy: { staging: { deny: ['send_email'] } }, spendBreakers: [{ scope: 'agent', window: '1h', maxUsd: 5 }]`,
    );
    const loaded = await loadConfig({ cwd: directory, env: {} });
    expect(loaded.toolPolicy).toEqual({ staging: { deny: ['send_email'] } });
    expect(loaded.spendBreakers).toEqual([{ scope: 'agent', window: '1h', windowMinutes: 60, maxUsd: 5 }]);

    write(`toolPolicy: { staging: { deny: 'send_email' } }`);
    await expect(loadConfig({ cwd: directory, env: {} })).rejects.toMatchObject({
      code: 'config_invalid',
      details: { field: 'toolPolicy.staging.deny' },
    });
    // The spelling: environments.<env>.tools (the same policy), and never both spellings.
    write(
      `environments: { staging: { tools: { deny: ['send_email'] } }, production: { tools: { allow: ['weather'] } }, dev: {} }`,
    );
    expect((await loadConfig({ cwd: directory, env: {} })).toolPolicy).toEqual({
      staging: { deny: ['send_email'] },
      production: { allow: ['weather'] },
      dev: {},
    });
    write(`environments: { staging: { tools: { deny: [1] } } }`);
    await expect(loadConfig({ cwd: directory, env: {} })).rejects.toMatchObject({
      code: 'config_invalid',
      details: { field: 'environments.staging.tools.deny[0]' },
    });
    write(`environments: { staging: { tool: {} } }`);
    await expect(loadConfig({ cwd: directory, env: {} })).rejects.toMatchObject({ code: 'config_invalid' });
    write(`environments: { staging: { tools: {} } }, toolPolicy: {}`);
    await expect(loadConfig({ cwd: directory, env: {} })).rejects.toMatchObject({
      code: 'config_invalid',
      details: { field: 'environments' },
    });
    write(`spend_breakers: [{ scope: 'agent', window: '1h', max_usd: 'lots' }]`);
    await expect(loadConfig({ cwd: directory, env: {} })).rejects.toMatchObject({
      code: 'config_invalid',
      details: { field: 'spendBreakers[0].max_usd' },
    });
  }, 120_000);
});
