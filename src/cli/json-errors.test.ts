/**
 * `--json` on every command, errors included: for each command of the CLI's table, an error that
 * reaches the command itself prints one line of JSON on stderr with a stable code and the exit
 * code it has without `--json`. A command added to the table without a case here fails the test.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './__fixtures__/run-cli.js';
import { COMMAND_OPTIONS } from './main.js';

const ROOT = resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'keel-json-errors-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const MISSING_CONFIG = join(dataDir, 'missing.config.ts');
/** A config with no `gateway` section (plain JavaScript: it loads at once). */
const NO_GATEWAY_CONFIG = join(dataDir, 'no-gateway.config.mjs');
writeFileSync(NO_GATEWAY_CONFIG, 'export default { agents: [] };\n');
/** A Postgres nobody listens on: opening it fails at once. */
const NO_DATABASE = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:9/keel',
  KEEL_DB_CONNECT_TIMEOUT_MS: '2000',
};

interface Case {
  args: string[];
  code: string;
  exit: number;
  env?: Record<string, string>;
}

/**
 * One failing command line per command (`--json` is added), its error code and exit code; a
 * subcommand with its own code path (`runs retry`) has a case of its own.
 */
const CASES: Record<string, Case> = {
  run: { args: ['run', 'echo', 'hi', '--config', MISSING_CONFIG], code: 'config_not_found', exit: 3 },
  worker: { args: ['worker', '--concurrency', '0'], code: 'usage', exit: 2 },
  serve: { args: ['serve', '--port', '70000'], code: 'usage', exit: 2 },
  // A config without a `gateway` section and no provider key in the environment: nothing to route.
  gateway: {
    args: ['gateway', '--config', NO_GATEWAY_CONFIG],
    code: 'gateway_no_provider_keys',
    exit: 3,
  },
  console: { args: ['console'], code: 'usage', exit: 2 },
  keys: { args: ['keys', 'rotate'], code: 'usage', exit: 2 },
  prompts: { args: ['prompts', 'push'], code: 'usage', exit: 2 },
  audit: { args: ['audit', '--limit', 'many'], code: 'usage', exit: 2 },
  erase: { args: ['erase'], code: 'usage', exit: 2 },
  tools: { args: ['tools', 'disable'], code: 'usage', exit: 2 },
  deployments: { args: ['deployments', 'enable'], code: 'usage', exit: 2 },
  agents: { args: ['agents', 'pause'], code: 'usage', exit: 2 },
  budgets: { args: ['budgets', 'create'], code: 'usage', exit: 2 },
  approvals: { args: ['approvals', 'approve'], code: 'usage', exit: 2 },
  cancel: { args: ['cancel', 'run_nope'], code: 'database_unavailable', exit: 4, env: NO_DATABASE },
  runs: { args: ['runs'], code: 'database_unavailable', exit: 4, env: NO_DATABASE },
  'runs retry': { args: ['runs', 'retry'], code: 'usage', exit: 2 },
  show: { args: ['show'], code: 'usage', exit: 2 },
  stats: { args: ['stats', '--group-by', 'planet'], code: 'usage', exit: 2 },
  trace: { args: ['trace'], code: 'usage', exit: 2 },
  export: { args: ['export'], code: 'usage', exit: 2 },
  import: { args: ['import', join(dataDir, 'missing.json')], code: 'usage', exit: 2 },
  replay: { args: ['replay'], code: 'usage', exit: 2 },
  eval: { args: ['eval', join(dataDir, 'missing-suite.yaml')], code: 'suite_invalid', exit: 2 },
  evals: { args: ['evals', 'show'], code: 'usage', exit: 2 },
  migrate: { args: ['migrate'], code: 'database_unavailable', exit: 4, env: NO_DATABASE },
  doctor: { args: ['doctor', 'now'], code: 'usage', exit: 2 },
  prune: { args: ['prune', '--older-than', 'soon'], code: 'usage', exit: 2 },
  version: { args: ['version', 'now'], code: 'usage', exit: 2 },
};

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { dataDir, cwd: ROOT, env });

/** The one JSON error line on stderr. */
function jsonError(stderr: string): { code: string; message: string; exit_code: number; fault: string } {
  expect(stderr.endsWith('\n')).toBe(true);
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  return (
    JSON.parse(stderr) as { error: { code: string; message: string; exit_code: number; fault: string } }
  ).error;
}

describe('--json errors on every command', () => {
  it('has a case for every command, and every command takes --json', () => {
    const commands = new Set(Object.keys(CASES).map((name) => name.split(' ')[0]));
    expect([...commands].sort()).toEqual(Object.keys(COMMAND_OPTIONS).sort());
    for (const [command, flags] of Object.entries(COMMAND_OPTIONS)) expect(flags, command).toContain('json');
  });

  it.each(Object.entries(CASES))(
    'keel %s --json: the error as JSON on stderr',
    async (_command, testCase) => {
      const { code, stdout, stderr } = await cli([...testCase.args, '--json'], testCase.env);
      const error = jsonError(stderr);
      expect(error).toMatchObject({ code: testCase.code, exit_code: testCase.exit });
      expect(error.message).toMatch(/\S/);
      expect(code).toBe(testCase.exit);
      expect(stdout).toBe('');
    },
    30_000,
  );

  it('refuses an unknown flag or command as JSON, and keeps text errors without --json', async () => {
    for (const command of Object.keys(COMMAND_OPTIONS)) {
      const refused = await cli([command, '--json', '--no-such-flag']);
      expect(refused.code).toBe(2);
      const error = jsonError(refused.stderr);
      expect(error).toMatchObject({ code: 'usage', exit_code: 2, fault: 'caller' });
      // The usage text is for people: the JSON message is the error alone.
      expect(error.message).toBe(
        "Unknown option '--no-such-flag'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--no-such-flag\"",
      );
    }
    expect(jsonError((await cli(['fly', '--json'])).stderr)).toMatchObject({
      code: 'usage',
      message: 'Unknown command "fly".',
    });
    const text = await cli(['runs', '--port', '9']);
    expect(text.stderr).toMatch(
      /^keel: keel runs does not take --port\.\n\nUsage:\n {2}keel runs .*\[usage\]\n$/s,
    );
    // After `--`, --json is an argument, not the flag.
    expect((await cli(['version', '--', '--json'])).stderr).toBe(
      'keel: keel version takes no arguments. [usage]\n',
    );
  });
});
