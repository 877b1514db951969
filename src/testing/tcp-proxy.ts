import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * What the proxy does with connections:
 * - `pass`: forwards bytes both ways.
 * - `reset`: resets every open connection (TCP RST) and every new one at once.
 * - `blackhole`: open connections go silent (bytes swallowed both ways, nothing answered, nothing
 *   closed); new ones are accepted and treated the same. A partition without a reset.
 * - `failover`: open connections go silent as in `blackhole`, new ones pass. What a load balancer
 *   or NAT failover does to a database's clients.
 *
 * A connection that went silent stays silent (and open) even after the mode returns to `pass`:
 * its bytes are lost, as on a real failover, and only its client can give up on it.
 */
export type TcpProxyMode = 'pass' | 'reset' | 'blackhole' | 'failover';

/** Options of `createTcpProxy`. */
export interface TcpProxyOptions {
  /** Where connections are forwarded (a Postgres server, say). */
  targetPort: number;
  targetHost?: string;
  /** Port to listen on, on 127.0.0.1 (default: any free port). */
  port?: number;
  mode?: TcpProxyMode;
}

/** A TCP proxy whose behaviour a test switches at any time. */
export interface TcpProxy {
  readonly port: number;
  readonly mode: TcpProxyMode;
  /** Switches the mode; applies to open connections at once (see `TcpProxyMode`). */
  setMode(mode: TcpProxyMode): void;
  /**
   * Connections accepted so far; open ones forwarding and silent now; bytes swallowed by silent
   * connections (both ways), so a test can wait until what it sent has surely been dropped.
   */
  stats(): { accepted: number; forwarding: number; silent: number; swallowedBytes: number };
  /** Destroys every connection and stops listening. */
  close(): Promise<void>;
}

interface ProxiedConnection {
  client: Socket;
  upstream: Socket | undefined;
  silent: boolean;
}

/**
 * A real TCP proxy in front of a server (Postgres in Keel's tests), to cut, silence or fail over
 * the connections of the code under test without touching the server. Listens on 127.0.0.1.
 */
export async function createTcpProxy({
  targetPort,
  targetHost = '127.0.0.1',
  port = 0,
  mode: initialMode = 'pass',
}: TcpProxyOptions): Promise<TcpProxy> {
  const connections = new Set<ProxiedConnection>();
  let mode = initialMode;
  let accepted = 0;
  let swallowedBytes = 0;
  const swallow = (chunk: Buffer) => {
    swallowedBytes += chunk.length;
  };

  const forget = (connection: ProxiedConnection) => {
    connection.client.destroy();
    connection.upstream?.destroy();
    connections.delete(connection);
  };

  /** Stops forwarding for good; keeps both sockets open and reads (discards) what arrives. */
  const silence = (connection: ProxiedConnection) => {
    if (connection.silent) return;
    connection.silent = true;
    const { client, upstream } = connection;
    client.unpipe();
    upstream?.unpipe();
    client.removeAllListeners('data');
    upstream?.removeAllListeners('data');
    client.on('data', swallow);
    upstream?.on('data', swallow);
    client.resume();
    upstream?.resume();
  };

  const server: Server = createServer((client) => {
    accepted++;
    const connection: ProxiedConnection = { client, upstream: undefined, silent: false };
    connections.add(connection);
    client.on('error', () => forget(connection)).on('close', () => forget(connection));
    if (mode === 'reset') {
      client.resetAndDestroy();
      connections.delete(connection);
      return;
    }
    if (mode === 'blackhole') {
      silence(connection);
      return;
    }
    const upstream = connect(targetPort, targetHost);
    connection.upstream = upstream;
    upstream
      .on('error', () => forget(connection))
      .on('close', () => {
        // A silent connection never tells its client anything, not even that the server left.
        if (!connection.silent) forget(connection);
      });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const listeningPort = (server.address() as { port: number }).port;

  return {
    port: listeningPort,
    get mode() {
      return mode;
    },
    setMode(next) {
      mode = next;
      for (const connection of [...connections]) {
        if (next === 'reset') {
          connection.upstream?.destroy();
          if (!connection.client.destroyed) connection.client.resetAndDestroy();
          connections.delete(connection);
        } else if (next === 'blackhole' || next === 'failover') {
          silence(connection);
        }
      }
    },
    stats() {
      let silent = 0;
      for (const connection of connections) if (connection.silent) silent++;
      return { accepted, forwarding: connections.size - silent, silent, swallowedBytes };
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of [...connections]) forget(connection);
      await closed;
    },
  };
}
