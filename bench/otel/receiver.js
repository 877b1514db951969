// A local OTLP/HTTP receiver in a process of its own: accepts every export request (200, empty
// body) and discards it, like a collector that keeps up. Counts nothing: the exporters report
// what was accepted.
import { spawn } from 'node:child_process';

const SOURCE = `
const http = require('node:http');
const server = http.createServer((request, response) => {
  request.on('data', () => {});
  request.on('end', () => { response.writeHead(200, { 'content-type': 'application/x-protobuf' }); response.end(); });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

/** Starts the receiver; resolves to its base URL and a `stop()`. */
export function startReceiver() {
  const child = spawn(process.execPath, ['-e', SOURCE], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (data) => {
      const { port } = JSON.parse(String(data));
      resolve({ url: `http://127.0.0.1:${port}`, port, stop: () => child.kill('SIGTERM') });
    });
  });
}
