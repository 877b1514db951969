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

/** Starts the gateway on `port`; returns { proc, url, headers, version } (headers route to the mock). */
export function start({ port, upstreamPort }) {
  const { script, version } = serverScript();
  const proc = startProcess('Portkey', [script, `--port=${port}`, '--headless']);
  return {
    proc,
    version,
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: {
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': `http://127.0.0.1:${upstreamPort}/v1`,
      authorization: 'Bearer sk-mock-bench',
    },
    close: async () => {},
  };
}
