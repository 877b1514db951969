import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Examples import from 'keel' like users do; in tests that is the source tree.
    alias: [
      ...['gateway', 'server', 'testing'].map((entry) => ({
        find: new RegExp(`^keel/${entry}$`),
        replacement: fileURLToPath(new URL(`./src/${entry}/index.ts`, import.meta.url)),
      })),
      { find: /^keel$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts', 'console/test/**/*.test.ts'],
    // CLI tests start whole commands (config load, embedded database, migrations) on a 2-core CI
    // machine running two test files at once: 30 s was too tight for them once the suite grew.
    testTimeout: 90_000,
    hookTimeout: 90_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
