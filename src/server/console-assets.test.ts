import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleAssets, isApiPath } from './console-assets.js';

/** The console's assets on a bare HTTP server; what they leave alone answers 418. */
async function serve(directory: string): Promise<{ url: string; server: Server }> {
  const assets = createConsoleAssets({ directory });
  const server = createServer((request, response) => {
    if (!assets.serve(request, response, new URL(request.url ?? '/', 'http://localhost')))
      response.writeHead(418).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('the console assets', () => {
  let dir: string;
  let outside: string;
  let url: string;
  let server: Server;
  const script = `console.log(${JSON.stringify('x'.repeat(5000))});`;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keel-console-assets-'));
    outside = mkdtempSync(join(tmpdir(), 'keel-console-outside-'));
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Keel</title>');
    writeFileSync(join(dir, 'assets', 'index-abc123.js'), script);
    writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
    ({ url, server } = await serve(dir));
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('serves hashed assets for a year, gzipped when asked, and revalidates with the etag', async () => {
    const plain = await fetch(`${url}/assets/index-abc123.js`, {
      headers: { 'accept-encoding': 'identity' },
    });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(script);

    // fetch decompresses on its own: the compressed length says it was gzipped.
    const gz = await fetch(`${url}/assets/index-abc123.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(Number(gz.headers.get('content-length'))).toBeLessThan(script.length / 10);
    expect(await gz.text()).toBe(script);

    const etag = plain.headers.get('etag')!;
    const again = await fetch(`${url}/assets/index-abc123.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const head = await fetch(`${url}/assets/index-abc123.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it("answers every page path with index.html (no-cache, CSP), and leaves the API's paths alone", async () => {
    for (const path of ['/', '/runs', '/runs/run_123', '/controls?tab=budgets']) {
      const page = await fetch(url + path);
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(await page.text()).toContain('<title>Keel</title>');
    }
    expect((await fetch(`${url}/favicon.svg`)).headers.get('cache-control')).toBe('public, max-age=3600');
    for (const path of ['/v1/runs', '/healthz', '/readyz', '/metrics', '/openapi.json'])
      expect((await fetch(url + path)).status).toBe(418);
    expect((await fetch(`${url}/`, { method: 'POST' })).status).toBe(418);
    expect(isApiPath('/v1')).toBe(false);
    expect(isApiPath('/metricsfoo')).toBe(false);
  });

  it('reaches nothing outside its folder and no missing asset', async () => {
    const relative = join('..', outside.split('/').pop()!, 'secret.txt');
    for (const path of [
      '/assets/missing.js',
      `/assets/%2e%2e/%2e%2e/${relative}`,
      `/%2e%2e/${relative}`,
      '/assets/..%2f..%2fetc%2fpasswd',
      '/assets/%00.js',
      '/assets/%E0%A4%A',
      '/assets/',
    ])
      expect((await fetch(url + path)).status, path).toBe(418);
  });

  it('says how to build the console when it is not built, and serves a build made after start', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'keel-console-empty-'));
    const { url: emptyUrl, server: emptyServer } = await serve(empty);
    try {
      const assets = createConsoleAssets({ directory: empty });
      expect(assets.available).toBe(false);
      const page = await fetch(`${emptyUrl}/`);
      expect(page.status).toBe(503);
      expect(await page.text()).toContain('npm run build');
      expect((await fetch(`${emptyUrl}/assets/late.js`)).status).toBe(418);
      // A build made after start is served at once: a miss is not remembered.
      mkdirSync(join(empty, 'assets'));
      writeFileSync(join(empty, 'index.html'), '<!doctype html><title>Late</title>');
      writeFileSync(join(empty, 'assets', 'late.js'), 'late()');
      expect(assets.available).toBe(true);
      expect(await (await fetch(`${emptyUrl}/`)).text()).toContain('Late');
      expect((await fetch(`${emptyUrl}/assets/late.js`)).status).toBe(200);
    } finally {
      emptyServer.closeAllConnections();
      await new Promise((resolve) => emptyServer.close(resolve));
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
