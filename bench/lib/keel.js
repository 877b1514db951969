// Loads Keel's public API for the benchmarks. Keel is the bench package's `keel` dependency
// (`file:..`, i.e. the root package and its built dist/). When it is not built or lacks an
// export the benchmarks need (from any of its public entries), loadKeel throws KeelUnavailableError and run.js prints
// "Keel: not available (...)" instead of a number.

export class KeelUnavailableError extends Error {
  constructor(message) {
    super(message);
    this.name = 'KeelUnavailableError';
    this.keelUnavailable = true;
  }
}

/** Keel's public entries: the benchmarks take a name from whichever tier exports it. */
const ENTRIES = ['keel', 'keel/gateway', 'keel/server', 'keel/testing'];

export async function loadKeel(names) {
  let keel;
  try {
    keel = {};
    for (const entry of ENTRIES) {
      for (const [name, value] of Object.entries(await import(entry)))
        if (!(name in keel)) keel[name] = value;
    }
  } catch (error) {
    if (error.code === 'ERR_MODULE_NOT_FOUND' && /keel/.test(error.message)) {
      throw new KeelUnavailableError('Keel is not built: run `npm run build` at the root');
    }
    throw new KeelUnavailableError(`cannot import 'keel': ${error.message.split('\n')[0]}`);
  }
  const missing = names.filter((n) => typeof keel[n] !== 'function');
  if (missing.length) throw new KeelUnavailableError(`API missing: ${missing.join(', ')}`);
  return keel;
}
