import { describe, expect, it } from 'vitest';
import { readOtelConfig } from './otel-config.js';
import { runSpanId, stepSpanId, traceIdOfRun } from './span-ids.js';

describe('readOtelConfig', () => {
  it('is off without an endpoint', () => {
    expect(readOtelConfig({})).toBeUndefined();
    expect(readOtelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ', OTEL_SERVICE_NAME: 'x' })).toBeUndefined();
  });

  it('reads the standard variables, with the specification’s defaults', () => {
    expect(readOtelConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      tracesUrl: 'http://collector:4318/v1/traces',
      protocol: 'http/protobuf',
      headers: {},
      serviceName: 'keel',
      captureContent: false,
      scheduleDelayMs: 5_000,
      maxExportBatchSize: 512,
      maxQueueSize: 2_048,
      exportTimeoutMs: 10_000,
    });
    const config = readOtelConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/custom/path',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Basic%20abc, x-team = core ,',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=traces',
      OTEL_SERVICE_NAME: 'agents',
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'TRUE',
      OTEL_BSP_SCHEDULE_DELAY: '0',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
      OTEL_EXPORTER_OTLP_TIMEOUT: '3000',
    });
    expect(config).toMatchObject({
      tracesUrl: 'https://traces.example/custom/path',
      protocol: 'http/json',
      headers: { authorization: 'Basic abc', 'x-team': 'traces' },
      serviceName: 'agents',
      captureContent: true,
      scheduleDelayMs: 0,
      maxExportBatchSize: 10,
      maxQueueSize: 100,
      exportTimeoutMs: 3_000,
    });
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' }, 'OTEL_EXPORTER_OTLP_HEADERS'],
    [{ OTEL_BSP_MAX_QUEUE_SIZE: '0' }, 'OTEL_BSP_MAX_QUEUE_SIZE'],
    [{ OTEL_BSP_SCHEDULE_DELAY: 'soon' }, 'OTEL_BSP_SCHEDULE_DELAY'],
  ])('refuses %j with config_invalid naming the variable', (bad, variable) => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318', ...bad };
    expect(() => readOtelConfig(env)).toThrow(
      expect.objectContaining({ code: 'config_invalid', details: { variable } }),
    );
  });

  it('never echoes header values (they hold secrets)', () => {
    expect(() =>
      readOtelConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318',
        OTEL_EXPORTER_OTLP_HEADERS: 'token',
      }),
    ).toThrow(expect.not.objectContaining({ message: expect.stringContaining('token') }));
  });
});

describe('span ids', () => {
  it('derive from the journal: stable, distinct per run, step and execution, valid lengths', () => {
    expect(traceIdOfRun('run_1')).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOfRun('run_1')).toBe(traceIdOfRun('run_1'));
    expect(traceIdOfRun('run_1')).not.toBe(traceIdOfRun('run_2'));
    const ids = [
      runSpanId('run_1'),
      stepSpanId('run_1', 0, 1),
      stepSpanId('run_1', 0, 2),
      stepSpanId('run_1', 1, 1),
    ];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(stepSpanId('run_1', 1, 1)).toBe(stepSpanId('run_1', 1, 1));
  });
});
