import { describe, expect, it } from 'vitest';
import { environmentOf, parseToolPolicy } from './controls-config.js';
import { createToolPolicy } from './tool-policy.js';

describe('tool policy', () => {
  it('deny wins, an allow list admits only its tools, an environment not listed allows all', () => {
    const config = parseToolPolicy({
      staging: { deny: ['send_email'] },
      production: { allow: ['weather'], deny: ['weather'] },
    });
    expect(createToolPolicy({ config, environment: 'staging' }).refusal('send_email')).toMatch(
      /denied in the staging/,
    );
    expect(createToolPolicy({ config, environment: 'staging' }).refusal('weather')).toBeUndefined();
    expect(createToolPolicy({ config, environment: 'production' }).refusal('weather')).toMatch(/denied/);
    expect(createToolPolicy({ config, environment: 'production' }).refusal('places')).toMatch(/allow list/);
    expect(createToolPolicy({ config, environment: 'development' }).refusal('send_email')).toBeUndefined();
    expect(createToolPolicy({ config, environment: 'toString' }).refusal('send_email')).toBeUndefined();
    expect(environmentOf({})).toBe('development');
    expect(environmentOf({ KEEL_ENV: ' staging ' })).toBe('staging');
  });

  it('refuses malformed tool policies with config_invalid naming the field', () => {
    const refused = (input: unknown, field: string) =>
      expect(() => parseToolPolicy(input)).toThrow(
        expect.objectContaining({ code: 'config_invalid', details: { field } }),
      );
    refused([], 'toolPolicy');
    refused({ staging: { deny: 'send_email' } }, 'toolPolicy.staging.deny');
    refused({ staging: { deny: ['bad name'] } }, 'toolPolicy.staging.deny[0]');
    refused({ staging: { block: ['x'] } }, 'toolPolicy.staging');
  });
});
