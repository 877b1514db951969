/**
 * The console's first page stays small: the JavaScript a browser fetches to show the overview
 * (the entry script, the chunks index.html preloads, the Overview page's chunk and every chunk
 * those import statically), gzipped, is at most 250 KB. Reads the build in dist/console
 * (`npm run build`); prints the figure for the release notes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { ROOT } from '../../test/keel-processes.js';

const BUILD = join(ROOT, 'dist', 'console');
const LIMIT_BYTES = 250 * 1024;

/** Chunks a chunk imports statically (`import{…}from"./x.js"`, `import"./x.js"`), as asset paths. */
function staticImports(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/\bimport\s*(?:[\w$*{}\s,]*?from\s*)?["']\.\/([\w.-]+\.js)["']/g))
    found.push(`/assets/${match[1]!}`);
  return found;
}

it('keeps the first page (entry, preloads, Overview chunk) at most 250 KB of gzipped JS', () => {
  expect(existsSync(join(BUILD, 'index.html')), 'dist/console is missing: run `npm run build` first.').toBe(
    true,
  );
  const html = readFileSync(join(BUILD, 'index.html'), 'utf8');
  const entry = /<script type="module"[^>]*\ssrc="([^"]+\.js)"/.exec(html)?.[1];
  expect(entry).toBeDefined();
  const preloads = [...html.matchAll(/<link rel="modulepreload"[^>]*\shref="([^"]+\.js)"/g)].map(
    (match) => match[1]!,
  );
  const read = (path: string) => readFileSync(join(BUILD, path), 'utf8');
  const overview = /["'](?:\.\/|\/assets\/|assets\/)(Overview-[\w-]+\.js)["']/.exec(read(entry!))?.[1];
  expect(overview, 'the entry chunk names the Overview chunk').toBeDefined();

  const chunks = new Set<string>();
  const queue = [entry!, ...preloads, `/assets/${overview!}`];
  while (queue.length > 0) {
    const path = queue.shift()!;
    if (chunks.has(path)) continue;
    chunks.add(path);
    queue.push(...staticImports(read(path)));
  }
  const sizes = [...chunks].map((path) => ({
    path,
    gzipped: gzipSync(readFileSync(join(BUILD, path))).length,
  }));
  const total = sizes.reduce((sum, chunk) => sum + chunk.gzipped, 0);
  console.log(
    `[bundle size] first page: ${(total / 1024).toFixed(1)} KB gzipped JS in ${sizes.length} chunks (${sizes
      .map((chunk) => `${chunk.path.replace('/assets/', '')} ${(chunk.gzipped / 1024).toFixed(1)} KB`)
      .join(', ')}); limit 250 KB`,
  );
  expect(total).toBeLessThanOrEqual(LIMIT_BYTES);
});
