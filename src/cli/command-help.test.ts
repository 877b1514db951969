import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandUsage, packageVersion } from './command-help.js';
import { runCli } from './__fixtures__/run-cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** None of these commands opens the database: the folder is never created. */
const cli = (args: string[]) =>
  runCli(args, { dataDir: join(tmpdir(), 'keel-help-never-created'), cwd: ROOT });

describe('keel --version and per-command help', () => {
  it('prints the package version, as text or JSON, and refuses other flags', async () => {
    expect(packageVersion()).toBe(VERSION);
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: `keel ${VERSION}\n`, stderr: '' });
    expect(await cli(['version'])).toEqual({ code: 0, stdout: `keel ${VERSION}\n`, stderr: '' });
    expect(JSON.parse((await cli(['--version', '--json'])).stdout)).toEqual({ version: VERSION });
    expect(JSON.parse((await cli(['version', '--json'])).stdout)).toEqual({ version: VERSION });
    const refused = await cli(['--version', '--port', '9']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/does not take --port/);
    // --version is not a flag of the other commands.
    expect((await cli(['runs', '--version'])).code).toBe(2);
  });

  it('prints a command’s own usage and flags for keel <command> --help and keel help <command>', async () => {
    const run = await cli(['run', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage:\n {2}keel run <agent> <input> \[--detach\]/);
    expect(run.stdout).toContain('  --idempotency-key\n');
    expect(run.stdout).not.toContain('keel runs');
    expect(run.stdout).not.toContain('keel worker');
    expect((await cli(['help', 'run'])).stdout).toBe(run.stdout);
    const approvals = (await cli(['approvals', '-h'])).stdout;
    expect(approvals).toContain('  keel approvals list [--run R] [--json]\n');
    expect(approvals).toContain('  keel approvals approve|reject <approval-id> [--reason R] [--json]\n');
    expect(approvals).toMatch(/Flags:\n {2}--run\n {2}--reason\n {2}--json\n/);
    // A continuation line stays with its command; -o is shown with its long name.
    const evalHelp = (await cli(['eval', '--help'])).stdout;
    expect(evalHelp).toContain('[--baseline EVAL_ID|FILE]');
    expect(evalHelp).toContain('keel eval capture');
    expect(evalHelp).toContain('  -o, --output\n');
    expect(evalHelp).not.toContain('keel evals');
    // The global help stays the global help.
    const global = await cli(['--help']);
    expect(global.code).toBe(0);
    expect(global.stdout).toMatch(/^keel: the production runtime/);
    expect(global.stdout).toContain('keel <command> --help');
    const unknown = await cli(['nope', '--help']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command "nope"/);
  });

  it('refuses a flag the command does not take (exit 2, naming it) with that command’s usage', async () => {
    const refused = await cli(['runs', '--port', '9', '--dry-run']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^keel: keel runs does not take --port\.\n\nUsage:\n {2}keel runs /);
    expect(refused.stderr).not.toContain('keel worker');
    expect((await cli(['runs', '--dry-run'])).stderr).toMatch(/keel runs does not take --dry-run/);
    expect((await cli(['approvals', 'list', '--tenant', 'x'])).stderr).toMatch(/does not take --tenant/);
  });

  it('cuts one command’s lines from a help text, not a longer name sharing its prefix', () => {
    const help = 'Usage:\n  keel run <a>\n      [--b]\n  keel runs [--c]\n\nOther: x\n';
    expect(commandUsage(help, 'run', [{ name: 'b' }])).toMatch(
      /^Usage:\n {2}keel run <a>\n {6}\[--b\]\n\nFlags:\n {2}--b\n/,
    );
    expect(commandUsage(help, 'runs', [])).toMatch(/^Usage:\n {2}keel runs \[--c\]\n\nCommon:/);
    expect(commandUsage(help, 'walk', [])).toBeUndefined();
  });
});
