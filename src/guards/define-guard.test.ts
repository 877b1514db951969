import { describe, expect, it } from 'vitest';
import { isKeelError } from '../errors/keel-error.js';
import { defineGuard, type GuardOptions } from './define-guard.js';

function configError(options: GuardOptions): { code: string; field: unknown } {
  try {
    defineGuard(options);
  } catch (error) {
    if (!isKeelError(error)) throw error;
    return { code: error.code, field: error.details.field };
  }
  throw new Error('defineGuard accepted a bad definition');
}

const allow = () => ({ action: 'allow' as const });

describe('defineGuard', () => {
  it('returns a guard whose check runs on its own, with its stages and default maxRetries', async () => {
    const guard = defineGuard({
      name: 'no-secrets',
      stage: ['input', 'output', 'input'],
      check: ({ text }) =>
        text.includes('secret') ? { action: 'block', reason: 'secret' } : { action: 'allow' },
    });
    expect(guard.name).toBe('no-secrets');
    expect(guard.stages).toEqual(['input', 'output']);
    expect(guard.maxRetries).toBe(2);
    expect(await guard.check({ stage: 'input', text: 'a secret' })).toEqual({
      action: 'block',
      reason: 'secret',
    });
    expect(await guard.check({ stage: 'input', text: 'hello' })).toEqual({ action: 'allow' });
  });

  it('takes one stage as a string', () => {
    expect(defineGuard({ name: 'g', stage: 'tool_args', check: allow, maxRetries: 0 }).stages).toEqual([
      'tool_args',
    ]);
  });

  it('refuses a bad name, stage, check or maxRetries with config_invalid naming the field', () => {
    expect(configError({ name: '', stage: 'input', check: allow })).toEqual({
      code: 'config_invalid',
      field: 'name',
    });
    expect(configError({ name: 'has space', stage: 'input', check: allow }).field).toBe('name');
    expect(configError({ name: 'g', stage: 'inputs' as never, check: allow })).toEqual({
      code: 'config_invalid',
      field: 'stage',
    });
    expect(configError({ name: 'g', stage: [], check: allow }).field).toBe('stage');
    expect(configError({ name: 'g', stage: 'input', check: 'nope' as never })).toEqual({
      code: 'config_invalid',
      field: 'check',
    });
    expect(configError({ name: 'g', stage: 'output', check: allow, maxRetries: -1 }).field).toBe(
      'maxRetries',
    );
    expect(configError({ name: 'g', stage: 'output', check: allow, maxRetries: 1.5 }).field).toBe(
      'maxRetries',
    );
  });
});
