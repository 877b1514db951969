/**
 * What the coding-CLI recipe tests share: a proxy canary that lets nothing leave the machine and
 * records what tried, and a way to run a CLI's launcher in its own process group, killed whole
 * when it hangs.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface EgressCanary {
  /** The proxy's URL, for `HTTPS_PROXY` / `HTTP_PROXY`. */
  url: string;
  /** Every request or CONNECT that reached it: each would have left the machine. */
  outside: string[];
  close(): Promise<void>;
}

/** A proxy that refuses everything, recording what it was asked. */
export async function startEgressCanary(): Promise<EgressCanary> {
  const outside: string[] = [];
  const canary = createServer((request, response) => {
    outside.push(`${request.method} ${request.url}`);
    response.writeHead(403).end();
  });
  canary.on('connect', (request: IncomingMessage, socket: Duplex) => {
    outside.push(`CONNECT ${request.url}`);
    socket.on('error', () => {}); // the CLI may reset the refused tunnel
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(canary.address() as AddressInfo).port}`,
    outside,
    async close() {
      canary.closeAllConnections();
      await new Promise((resolve) => canary.close(resolve));
    },
  };
}

/**
 * Runs `node <launcher> ...args` in its own process group, so that a hung launcher and the
 * binary it started are both killed after `timeoutMs` (and whatever is left when it closes).
 */
export async function runLauncher(
  launcher: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [launcher, ...args], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(killGroup, options.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  killGroup();
  return { code, stdout, stderr };
}
