/**
 * Serves the console (the React app in `console/`, built into `dist/console`) on every path that
 * is not the API's: `GET /assets/<hash>.js` with a year-long immutable cache (the names change
 * when the content does), any other page path with `index.html` (`no-cache`, so a new build is
 * picked up at once) and the app's router takes it from there. Hand-written rather than a static
 * middleware because it is this small: a fixed folder, each asset read once and kept with its gzip
 * (computed once), and no directory listing or path outside the folder reachable (see
 * docs/decisions/2026-12-06-console-stack.md).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/**
 * Where the build puts the console: `dist/console` of the package, from the sources
 * (`src/server`) and from the build (`dist/server`) alike.
 */
export const BUILT_CONSOLE_DIRECTORY = fileURLToPath(new URL('../../dist/console/', import.meta.url));

/** Paths that belong to the API (and its probes), never to the console. */
const API_PREFIXES = ['/v1/', '/healthz', '/readyz', '/metrics', '/openapi.json'];

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Compressed when at least this big and of a text type. */
const GZIP_MIN_BYTES = 1024;

/**
 * Same-origin only: scripts and styles from the server itself (charts set inline styles), API
 * calls to the same origin, no framing.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

interface Asset {
  body: Buffer;
  gzipped?: Buffer;
  type: string;
  etag: string;
}

/** Answers console requests; `serve` returns false for a request that is not the console's. */
export interface ConsoleAssets {
  /** Whether the built console was found (its `index.html`). */
  readonly available: boolean;
  serve(request: IncomingMessage, response: ServerResponse, url: URL): boolean;
}

/** Whether `pathname` is the API's (or a probe's), which the console never answers. */
export function isApiPath(pathname: string): boolean {
  return API_PREFIXES.some((prefix) =>
    prefix.endsWith('/')
      ? pathname.startsWith(prefix)
      : pathname === prefix || pathname.startsWith(`${prefix}/`),
  );
}

/** The console's files in `directory` (`dist/console`), read lazily and cached in memory. */
export function createConsoleAssets({ directory }: { directory: string }): ConsoleAssets {
  const root = resolve(directory);
  // Only files found are kept (a bounded set: the build's); a miss is looked up again next time,
  // so requests for made-up names cannot grow the cache, and a build made after start is served.
  const cache = new Map<string, Asset>();

  function load(relative: string): Asset | undefined {
    const cached = cache.get(relative);
    if (cached !== undefined) return cached;
    const file = normalize(join(root, relative));
    if (!file.startsWith(root + sep) || !existsSync(file)) return undefined;
    const stats = statSync(file);
    if (!stats.isFile()) return undefined;
    const body = readFileSync(file);
    const type = CONTENT_TYPES[extname(file)] ?? 'application/octet-stream';
    const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length >= GZIP_MIN_BYTES;
    const asset: Asset = {
      body,
      type,
      etag: `"${body.length.toString(36)}-${stats.mtimeMs.toString(36)}"`,
      ...(compressible ? { gzipped: gzipSync(body, { level: 9 }) } : {}),
    };
    // `index.html` is re-read when a new build replaces it; hashed assets never change.
    if (relative !== 'index.html') cache.set(relative, asset);
    return asset;
  }

  function send(
    request: IncomingMessage,
    response: ServerResponse,
    asset: Asset,
    cacheControl: string,
    status = 200,
  ): void {
    response.setHeader('content-type', asset.type);
    response.setHeader('cache-control', cacheControl);
    response.setHeader('x-content-type-options', 'nosniff');
    response.setHeader('etag', asset.etag);
    response.setHeader('vary', 'accept-encoding');
    if (asset.type.startsWith('text/html')) {
      response.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      response.setHeader('referrer-policy', 'no-referrer');
      response.setHeader('x-frame-options', 'DENY');
    }
    if (request.headers['if-none-match'] === asset.etag) {
      response.writeHead(304).end();
      return;
    }
    const gzip =
      asset.gzipped !== undefined && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzipped! : asset.body;
    if (gzip) response.setHeader('content-encoding', 'gzip');
    response.setHeader('content-length', body.length);
    response.writeHead(status);
    response.end(request.method === 'HEAD' ? undefined : body);
  }

  function notBuilt(response: ServerResponse): void {
    const page =
      '<!doctype html><html lang="en"><meta charset="utf-8"><title>Keel</title>' +
      '<h1>The Keel console is not built</h1><p>Run <code>npm run build</code> (or <code>npm start</code>) ' +
      'to build it into <code>dist/console</code>. The API is served under <code>/v1</code>.</p></html>';
    response.writeHead(503, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(page),
    });
    response.end(page);
  }

  return {
    get available() {
      return existsSync(join(root, 'index.html'));
    },
    serve(request, response, url) {
      const method = request.method ?? 'GET';
      if ((method !== 'GET' && method !== 'HEAD') || isApiPath(url.pathname)) return false;
      let pathname: string;
      try {
        pathname = decodeURIComponent(url.pathname);
      } catch {
        return false;
      }
      // Anything that tries to leave the folder, or carries a NUL, is not the console's.
      if (pathname.includes('\0') || pathname.split('/').includes('..')) return false;
      if (pathname.startsWith('/assets/')) {
        const asset = load(pathname.slice(1));
        if (asset === undefined) return false;
        send(request, response, asset, 'public, max-age=31536000, immutable');
        return true;
      }
      if (extname(pathname) !== '') {
        const asset = load(pathname.slice(1));
        if (asset === undefined) return false;
        send(request, response, asset, 'public, max-age=3600');
        return true;
      }
      // A page of the app (`/`, `/runs/run_123`): the app's router renders it.
      const index = load('index.html');
      if (index === undefined) notBuilt(response);
      else send(request, response, index, 'no-cache');
      return true;
    },
  };
}
