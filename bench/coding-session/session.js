// The recorded Claude Code session (session.json, written by record.js), as the benchmark's
// processes use it: the load generator sends its requests, the upstream answers them.
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURE = fileURLToPath(new URL('./session.json', import.meta.url));

/** Credentials of the recording: each system sends its own instead. */
const CREDENTIALS = new Set(['x-api-key', 'authorization']);

/** Reads the fixture. */
export function readSession(file = FIXTURE) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/**
 * The requests to replay, in the order Claude Code sent them: { query, headers, body } where
 * `query` is the recorded path's query (`?beta=true`), `headers` the recorded ones without
 * credentials (lowercased names) and `body` the exact bytes.
 */
export function replayRequests(session) {
  return session.exchanges.map((e) => {
    const headers = {};
    for (const [name, value] of e.headers) {
      const lower = name.toLowerCase();
      if (!CREDENTIALS.has(lower)) headers[lower] = value;
    }
    const at = e.path.indexOf('?');
    return { query: at < 0 ? '' : e.path.slice(at), headers, body: Buffer.from(e.body, 'utf8') };
  });
}

const ASSISTANT = /"role"\s*:\s*"assistant"/g;
const TOOLS = /"tools"\s*:\s*\[\s*\{/;

/**
 * Which recorded answer a request gets: its number of assistant turns (each turn of the session
 * carries one more; a gateway re-serializing the body keeps them), and whether it declares tools
 * (Claude Code's side requests, a title or a quota probe, declare none). Cheap on a large body,
 * as a fake upstream must be: no JSON parse.
 */
export function turnOf(text) {
  return `${(text.match(ASSISTANT) ?? []).length}${TOOLS.test(text) ? '+tools' : ''}`;
}
