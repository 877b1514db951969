/**
 * The built-in guards, exported from `keel` as one namespace object: `guards.pii({ action:
 * 'redact' })`. Each returns a `Guard` whose `check({ stage, text })` can be called on its own.
 */
import { grounding } from './grounding.js';
import { jsonSchema } from './json-schema.js';
import { maxLength } from './max-length.js';
import { pii } from './pii-guard.js';
import { promptInjection } from './prompt-injection.js';
import { untrustedToolOutput } from './untrusted-tool-output.js';

/**
 * The built-in guards: `maxLength`, `promptInjection`, `pii`, `jsonSchema`, `untrustedToolOutput`,
 * `grounding`.
 */
export const guards = Object.freeze({
  maxLength,
  promptInjection,
  pii,
  jsonSchema,
  untrustedToolOutput,
  grounding,
});
