// Preloaded (`node --import <this file> ...`) into every process the gateway benchmark starts
// (mock upstream, gateways, load generators): exits when the process that started it is gone
// (its parent pid changes), so a benchmark killed with SIGKILL leaves no server behind. An
// unref'd 500 ms timer: no work on the request path.
import { setInterval } from 'node:timers';

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 500).unref();
