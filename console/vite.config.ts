/**
 * Builds the console into `dist/console` of the package, which `keel serve` serves at `/`:
 * hashed file names under `assets/` (served with a year-long immutable cache), everything in the
 * package (no CDN), one chunk per page so the first page loads only what it shows.
 */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run console:dev`: the app with hot reload, its API calls sent to a running `keel serve`.
    proxy: { '/v1': 'http://127.0.0.1:4000' },
  },
});
