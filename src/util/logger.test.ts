import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createJsonLogger, redact, silentLogger } from './logger.js';

function capture(options: Parameters<typeof createJsonLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = createJsonLogger({ ...options, write: (line) => lines.push(line) });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, records };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('createJsonLogger', () => {
  it('writes one JSON document per line with a level label, ISO time and msg', () => {
    const { logger, lines, records } = capture();
    logger.info('hello', { runId: 'run_1', count: 2 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const [record] = records();
    expect(record).toEqual({
      level: 'info',
      time: expect.any(String) as unknown,
      msg: 'hello',
      runId: 'run_1',
      count: 2,
    });
    expect(new Date(record?.time as string).toISOString()).toBe(record?.time);
  });

  it('filters by level', () => {
    const { logger, records } = capture({ level: 'warn' });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((record) => [record.level, record.msg])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  it('defaults to info and logs debug when asked', () => {
    const info = capture();
    info.logger.debug('hidden');
    info.logger.info('shown');
    expect(info.records().map((record) => record.msg)).toEqual(['shown']);
    const debug = capture({ level: 'debug' });
    debug.logger.debug('visible');
    expect(debug.records()).toMatchObject([{ level: 'debug', msg: 'visible' }]);
  });

  it('takes the level from KEEL_LOG_LEVEL, falling back to info on nonsense', () => {
    vi.stubEnv('KEEL_LOG_LEVEL', 'error');
    const strict = capture();
    strict.logger.warn('no');
    strict.logger.error('yes');
    expect(strict.records().map((record) => record.msg)).toEqual(['yes']);
    vi.stubEnv('KEEL_LOG_LEVEL', 'verbose');
    const fallback = capture();
    fallback.logger.debug('no');
    fallback.logger.info('yes');
    expect(fallback.records().map((record) => record.msg)).toEqual(['yes']);
  });

  it('writes nothing at the silent level', () => {
    const { logger, lines } = capture({ level: 'silent' });
    logger.error('boom', { a: 1 });
    logger.child({ b: 2 }).error('boom');
    expect(lines).toEqual([]);
  });

  it('merges bindings, child bindings and fields', () => {
    const { logger, records } = capture({ bindings: { service: 'keel' } });
    const child = logger.child({ worker: 'w1' }).child({ runId: 'run_9' });
    child.info('step', { step: 3 });
    logger.info('root');
    expect(records()).toEqual([
      {
        level: 'info',
        time: expect.any(String) as unknown,
        msg: 'step',
        service: 'keel',
        worker: 'w1',
        runId: 'run_9',
        step: 3,
      },
      { level: 'info', time: expect.any(String) as unknown, msg: 'root', service: 'keel' },
    ]);
  });

  it('writes each key once: fields override bindings, child bindings override parent ones', () => {
    const { logger, lines, records } = capture({ bindings: { worker: 'w0' } });
    logger.child({ attempt: 1, worker: 'w1' }).warn('retry', { attempt: 2, runId: 'run_1' });
    // JSON.parse keeps the last of duplicate keys, so the raw line is what shows a repeat.
    expect(lines[0]?.match(/"attempt":/g)).toHaveLength(1);
    expect(lines[0]?.match(/"worker":/g)).toHaveLength(1);
    expect(records()[0]).toMatchObject({ attempt: 2, worker: 'w1', runId: 'run_1' });
  });

  it('redacts secret keys at any depth, in fields, bindings and child bindings', () => {
    const { logger, lines, records } = capture({ bindings: { password: 'p0' } });
    logger.child({ api_key: 'k1', nested: { Cookie: 'c1' } }).info('call', {
      headers: { Authorization: 'Bearer sk-live-123', 'X-API-Key': 'sk-2', accept: 'json' },
      deep: { a: { b: [{ client_secret: 'cs', refresh_token: 'rt', ok: true }] } },
      token: 't',
      tokens: 42,
      inputTokens: 7,
    });
    expect(records()[0]).toMatchObject({
      password: '[redacted]',
      api_key: '[redacted]',
      nested: { Cookie: '[redacted]' },
      headers: { Authorization: '[redacted]', 'X-API-Key': '[redacted]', accept: 'json' },
      deep: { a: { b: [{ client_secret: '[redacted]', refresh_token: '[redacted]', ok: true }] } },
      token: '[redacted]',
      tokens: 42,
      inputTokens: 7,
    });
    for (const secret of ['p0', 'k1', 'c1', 'sk-live-123', 'sk-2', '"cs"', '"rt"', '"t"']) {
      expect(lines.join('\n')).not.toContain(secret);
    }
  });

  it('masks Keel keys and bearer credentials inside strings, the message included', () => {
    const { logger, lines, records } = capture();
    logger.error('calling with keel_sk_abcdefABCDEF0123', {
      note: 'got Bearer abc.def',
      list: ['x keel_sk_zzz-yyy y'],
    });
    expect(records()[0]).toMatchObject({
      msg: 'calling with keel_sk_[redacted]',
      note: 'got Bearer [redacted]',
      list: ['x keel_sk_[redacted] y'],
    });
    expect(lines.join('\n')).not.toMatch(/abcdefABCDEF0123|abc\.def|zzz-yyy/);
  });

  it('does not mutate the caller’s fields', () => {
    const { logger } = capture();
    const fields = { password: 'hunter2', inner: { token: 't' } };
    logger.info('x', fields);
    expect(fields).toEqual({ password: 'hunter2', inner: { token: 't' } });
  });

  it('writes to stderr by default and has flushed by the time the process exits', () => {
    const script = [
      "const mod = await import('./src/util/logger.ts');",
      'const { createJsonLogger } = mod.createJsonLogger ? mod : mod.default;',
      "const logger = createJsonLogger().child({ worker: 'w1' });",
      "logger.debug('hidden');",
      "logger.info('bye', { api_key: 'k1' });",
      'process.exit(3);',
    ].join('\n');
    const result = spawnSync(
      process.execPath,
      ['--import', 'jiti/register', '--input-type=module', '-e', script],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { ...process.env, KEEL_LOG_LEVEL: '' },
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(3);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      level: 'info',
      msg: 'bye',
      worker: 'w1',
      api_key: '[redacted]',
    });
  });
});

describe('the default stderr destination', () => {
  it('writes the lines of one turn together, in order, even when an uncaught error ends that turn', () => {
    const script = [
      "const mod = await import('./src/util/logger.ts');",
      'const { createJsonLogger } = mod.createJsonLogger ? mod : mod.default;',
      'const logger = createJsonLogger();',
      "setImmediate(() => logger.info('next turn'));",
      "setTimeout(() => { logger.info('one'); logger.info('two'); throw new Error('boom'); }, 20);",
    ].join('\n');
    const result = spawnSync(
      process.execPath,
      ['--import', 'jiti/register', '--input-type=module', '-e', script],
      {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { ...process.env, KEEL_LOG_LEVEL: '' },
        encoding: 'utf8',
      },
    );
    expect(result.status).toBe(1);
    const messages = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(['next turn', 'one', 'two']);
    expect(result.stderr).toContain('boom');
  });
});

describe('redact', () => {
  it('serializes toJSON values and leaves non-secret values alone', () => {
    expect(redact({ at: new Date(0), n: 1, s: 'plain', nil: null })).toEqual({
      at: '1970-01-01T00:00:00.000Z',
      n: 1,
      s: 'plain',
      nil: null,
    });
  });
});

describe('silentLogger', () => {
  it('drops everything, children included', () => {
    expect(() => silentLogger.child({ a: 1 }).error('x', { b: 2 })).not.toThrow();
  });
});
