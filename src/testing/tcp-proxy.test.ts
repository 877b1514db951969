import { connect, createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTcpProxy, type TcpProxy } from './tcp-proxy.js';

/** An echo server that counts the bytes it received. */
async function createEchoServer(): Promise<{ port: number; received: () => number; close(): Promise<void> }> {
  let received = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.write(chunk);
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    received: () => received,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function open(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const onData = (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.length >= text.length) {
        socket.off('data', onData);
        resolve(answer);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(text);
  });
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('createTcpProxy', () => {
  let target: Awaited<ReturnType<typeof createEchoServer>>;
  let proxy: TcpProxy;
  const sockets: Socket[] = [];
  const track = (socket: Socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    return socket;
  };

  beforeEach(async () => {
    target = await createEchoServer();
    proxy = await createTcpProxy({ targetPort: target.port });
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await proxy.close();
    await target.close();
  });

  it('passes bytes both ways', async () => {
    const socket = track(await open(proxy.port));
    expect(await echo(socket, 'hello')).toBe('hello');
    expect(proxy.stats()).toMatchObject({ accepted: 1, forwarding: 1, silent: 0 });
  });

  it('resets open connections and new ones in reset mode, and passes again after', async () => {
    const socket = track(await open(proxy.port));
    await echo(socket, 'x');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    proxy.setMode('reset');
    expect((await failed).code).toBe('ECONNRESET');
    await closed;

    const fresh = track(connect(proxy.port, '127.0.0.1'));
    const freshError = new Promise<NodeJS.ErrnoException>((resolve) => fresh.once('error', resolve));
    expect((await freshError).code).toBe('ECONNRESET');

    proxy.setMode('pass');
    expect(await echo(track(await open(proxy.port)), 'back')).toBe('back');
  });

  it('swallows bytes of open and new connections in blackhole mode, without closing them', async () => {
    const socket = track(await open(proxy.port));
    await echo(socket, 'ab');
    let answered = '';
    socket.on('data', (chunk: Buffer) => (answered += chunk.toString()));
    proxy.setMode('blackhole');
    socket.write('lost');
    const fresh = track(await open(proxy.port));
    fresh.on('data', (chunk: Buffer) => (answered += chunk.toString()));
    fresh.write('lost too');
    await until(() => proxy.stats().swallowedBytes >= 'lost'.length + 'lost too'.length);

    expect(target.received()).toBe(2);
    expect(answered).toBe('');
    expect(socket.destroyed).toBe(false);
    expect(fresh.destroyed).toBe(false);
    expect(proxy.stats()).toMatchObject({ accepted: 2, forwarding: 0, silent: 2 });

    // Back to pass: new connections work, the silenced ones stay silent.
    proxy.setMode('pass');
    expect(await echo(track(await open(proxy.port)), 'new')).toBe('new');
    socket.write('still lost');
    await until(() => proxy.stats().swallowedBytes >= 12 + 'still lost'.length);
    expect(answered).toBe('');
  });

  it('silences open connections and passes new ones in failover mode', async () => {
    const old = track(await open(proxy.port));
    await echo(old, 'before');
    let answered = '';
    old.on('data', (chunk: Buffer) => (answered += chunk.toString()));
    proxy.setMode('failover');
    old.write('into the void');
    await until(() => proxy.stats().swallowedBytes >= 'into the void'.length);

    expect(await echo(track(await open(proxy.port)), 'after')).toBe('after');
    expect(answered).toBe('');
    expect(old.destroyed).toBe(false);
    expect(proxy.stats()).toMatchObject({ accepted: 2, forwarding: 1, silent: 1 });
  });
});
