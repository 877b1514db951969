import { main } from '../main.js';

/**
 * Runs the `keel` command line in-process on the embedded database in `dataDir` (direct mode, or
 * through a server that folder advertises), capturing what it prints. `env` adds to the minimal
 * environment (`KEEL_DATA_DIR`, `KEEL_LOG_LEVEL=error`, `PATH`).
 */
export async function runCli(
  args: string[],
  { dataDir, cwd, env = {} }: { dataDir: string; cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { KEEL_DATA_DIR: dataDir, KEEL_LOG_LEVEL: 'error', PATH: process.env.PATH, ...env },
    cwd,
    signal: new AbortController().signal,
  });
  return { code, stdout, stderr };
}
