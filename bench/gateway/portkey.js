// Portkey side of the gateway benchmark: the open-source Portkey AI gateway 1.15.2 (with npm
// overrides { "@hono/node-server": "1.14.1" }: newer ones break its streaming), started as its
// own bin does (`npx @portkey-ai/gateway --port=N --headless`), but with node directly so the
// process measured is the gateway and not npx. It listens on all interfaces (it has no host
// option); the benchmark sends to 127.0.0.1 only. It waits 25 ms before the first streamed event
// on purpose (its streaming handler), which shows in its streaming figures.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startProcess } from './procs.js';

export const name = 'Portkey 1.15.2';

function serverScript() {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@portkey-ai/gateway/package.json');
  const { version, bin } = require(pkg);
  return { script: join(dirname(pkg), typeof bin === 'string' ? bin : Object.values(bin)[0]), version };
}

/**
 * Starts the gateway on `port`; returns { proc, url, headers, version } (headers route to the
 * mock). `path`: the endpoint called, /v1/chat/completions (default, provider `openai`) or
 * /v1/messages (Anthropic's format, provider `anthropic`).
 */
export function start({ port, upstreamPort, path = '/v1/chat/completions' }) {
  const { script, version } = serverScript();
  const proc = startProcess('Portkey', [script, `--port=${port}`, '--headless']);
  return {
    proc,
    version,
    url: `http://127.0.0.1:${port}${path}`,
    headers: {
      'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1`,
      ...(path === '/v1/messages'
        ? { 'x-portkey-provider': 'anthropic', 'x-api-key': 'sk-mock-bench' }
        : { 'x-portkey-provider': 'openai', authorization: 'Bearer sk-mock-bench' }),
    },
    close: async () => {},
  };
}
