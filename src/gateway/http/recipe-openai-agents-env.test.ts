/**
 * The docs/gateway.md recipe "OpenAI Agents SDK" configured by environment alone
 * (`OPENAI_BASE_URL`, `OPENAI_API_KEY`), in a process of its own as an app would run it (not
 * under vitest, whose NODE_ENV=test turns the SDK's tracing off). What the docs say of its
 * tracing is checked here: the exporter posts to OpenAI's endpoint whatever the base URL (with
 * the Keel key of OPENAI_API_KEY) unless OPENAI_AGENTS_DISABLE_TRACING=1; the run works either
 * way. The child refuses every request that would leave the machine, so nothing does.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRecipeGateway, type RecipeGateway } from './__fixtures__/recipe-gateway.js';

let keel: RecipeGateway;

beforeAll(async () => {
  keel = await startRecipeGateway();
});

afterAll(async () => {
  await keel?.close();
});

/** The app: an agent run with the SDK's defaults; prints its output and any outside request. */
const APP = `
const outside = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  if (!url.startsWith('http://127.0.0.1:')) {
    outside.push({ url, authorization: new Headers(init?.headers).get('authorization') });
    throw new TypeError('refused by the test');
  }
  return realFetch(input, init);
};
const { Agent, run, getGlobalTraceProvider } = require('@openai/agents');
(async () => {
  const result = await run(new Agent({ name: 'Echo', model: 'fast' }), 'Hi');
  await getGlobalTraceProvider().forceFlush();
  process.stdout.write(JSON.stringify({ output: result.finalOutput, outside }));
})().catch((error) => {
  process.stderr.write(String(error));
  process.exit(1);
});
`;

async function runApp(
  env: Record<string, string>,
): Promise<{ output: string; outside: Array<{ url: string; authorization: string | null }> }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', APP], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ...env },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as {
    output: string;
    outside: Array<{ url: string; authorization: string | null }>;
  };
}

it('runs with OPENAI_BASE_URL and OPENAI_API_KEY; OPENAI_AGENTS_DISABLE_TRACING=1 keeps the traces home', async () => {
  const env = { OPENAI_BASE_URL: `${keel.url}/v1`, OPENAI_API_KEY: keel.key };
  keel.upstream.enqueue({ content: 'Hello, quietly.' });
  const quiet = await runApp({ ...env, OPENAI_AGENTS_DISABLE_TRACING: '1' });
  expect(quiet).toEqual({ output: 'Hello, quietly.', outside: [] });

  // Without it, the SDK's exporter tries OpenAI's trace endpoint with the Keel key (refused here):
  // the run still works, and the docs say to set the variable.
  keel.upstream.enqueue({ content: 'Hello, traced.' });
  const traced = await runApp(env);
  expect(traced.output).toBe('Hello, traced.');
  expect(traced.outside.length).toBeGreaterThan(0);
  expect(traced.outside[0]).toEqual({
    url: 'https://api.openai.com/v1/traces/ingest',
    authorization: `Bearer ${keel.key}`,
  });
  expect(await keel.recordedEndpoints()).toEqual(['responses', 'responses']);
});
