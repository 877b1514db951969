import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processStartTime } from '../util/process-identity.js';
import { isLoopbackHost } from './backend.js';
import { main } from './main.js';

const ADMIN_KEY = 'keel_sk_local_admin_key_for_tests_0123456789';

let root: string;
/** Stands in for a live `keel serve` owning the embedded database (its PID and start time). */
let owner: ChildProcess;
let ownerIdentity: { pid: number; startTime: string };
/** A server on every interface that records what reaches it. */
let server: Server;
let port: number;
const received: { url: string; headers: IncomingHttpHeaders }[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'keel-backend-'));
  owner = spawn('sleep', ['120'], { stdio: 'ignore' });
  ownerIdentity = { pid: owner.pid as number, startTime: processStartTime(owner.pid as number) as string };
  server = createServer((request, response) => {
    received.push({ url: request.url ?? '', headers: request.headers });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ data: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  owner.kill('SIGKILL');
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

let folders = 0;
/** A Keel folder held by the owner, whose lock names `url`, with the local admin key beside it. */
function keelFolderNaming(url: string): string {
  const keelDir = join(root, `keel-${++folders}`);
  mkdirSync(keelDir, { recursive: true });
  writeFileSync(join(keelDir, 'lock'), JSON.stringify({ ...ownerIdentity, url }));
  writeFileSync(join(keelDir, 'admin-key'), `${ADMIN_KEY}\n`);
  return keelDir;
}

async function keelRuns(keelDir: string) {
  let stdout = '';
  let stderr = '';
  const code = await main(['runs', '--json'], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { KEEL_DATA_DIR: keelDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH },
    cwd: root,
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}

/** An address of this machine that is not loopback, if it has one. */
function externalAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces()))
    for (const address of addresses ?? [])
      if (address.family === 'IPv4' && !address.internal) return address.address;
  return undefined;
}

describe('the CLI and the local server it finds in the lock file', () => {
  it('sends the admin key to a loopback URL', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const before = received.length;
      const result = await keelRuns(keelFolderNaming(`http://${host}:${port}`));
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(JSON.parse(result.stdout)).toEqual([]);
      expect(received.slice(before).map((request) => request.headers.authorization)).toEqual([
        `Bearer ${ADMIN_KEY}`,
      ]);
    }
  });

  it('refuses a lock that names any other address, with server_url_not_loopback, sending nothing', async () => {
    const external = externalAddress();
    const urls = [
      // This machine's own non-loopback address, where the recording server listens too.
      ...(external === undefined ? [] : [`http://${external}:${port}`]),
      `http://203.0.113.7:${port}`,
      `http://evil.example.com:${port}`,
      `http://127.0.0.1.evil.example.com:${port}`,
      `https://127.0.0.1:${port}`,
      'not a url',
    ];
    const before = received.length;
    for (const url of urls) {
      const result = await keelRuns(keelFolderNaming(url));
      expect(result.code, url).toBe(4);
      // `keel runs --json`: the error is one JSON line with its stable code.
      expect(JSON.parse(result.stderr)).toMatchObject({
        error: { code: 'server_url_not_loopback', exit_code: 4 },
      });
      expect(result.stderr).toContain('not a loopback address');
      expect(result.stderr).not.toContain(ADMIN_KEY);
    }
    expect(received.slice(before)).toEqual([]);
  });

  it('knows loopback hosts as URL writes them', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', 'LOCALHOST', '[::1]', '[::ffff:7f00:1]'])
      expect(isLoopbackHost(new URL(`http://${host}:1`).hostname), host).toBe(true);
    for (const host of [
      '10.0.0.1',
      '128.0.0.1',
      '0.0.0.0',
      '[::]',
      '[::2]',
      '[::ffff:a00:1]',
      'localhost.example.com',
      'example.com',
    ])
      expect(isLoopbackHost(new URL(`http://${host}:1`).hostname), host).toBe(false);
  });
});
