import { defineGuard, invalidGuardField } from './define-guard.js';
import type { Guard, GuardStage } from './guard.js';
import { detectPii, PII_ENTITIES, replaceSpans, type PiiEntity, type PiiSpan } from './pii.js';

/** The options of `guards.pii`. */
export interface PiiGuardOptions {
  /** The kinds looked for. Default: all of PII_ENTITIES. */
  entities?: readonly PiiEntity[];
  /** `redact` replaces each value by its label (`[EMAIL]`...); `block` stops; `warn` records. */
  action: 'redact' | 'block' | 'warn';
  /** Default: every stage. */
  stages?: readonly GuardStage[];
  /** Default `pii`. */
  name?: string;
}

/**
 * Detects e-mail addresses, phone numbers, card numbers, IBANs, US SSNs, API keys and bearer
 * tokens (see pii.ts). The verdict's details count what was found by kind and never hold a value,
 * since verdicts are journaled.
 */
export function pii({ entities = PII_ENTITIES, action, stages, name = 'pii' }: PiiGuardOptions): Guard {
  if (!['redact', 'block', 'warn'].includes(action)) {
    throw invalidGuardField(name, 'action', 'must be one of redact, block, warn');
  }
  if (!Array.isArray(entities) || entities.length === 0) {
    throw invalidGuardField(name, 'entities', `must list at least one of ${PII_ENTITIES.join(', ')}`);
  }
  for (const entity of entities) {
    if (!PII_ENTITIES.includes(entity)) {
      throw invalidGuardField(
        name,
        'entities',
        `"${String(entity)}" is not one of ${PII_ENTITIES.join(', ')}`,
      );
    }
  }
  return defineGuard({
    name,
    stage: stages ?? ['input', 'tool_args', 'tool_output', 'output'],
    check: ({ text }) => {
      const spans = detectPii(text, entities);
      if (spans.length === 0) return { action: 'allow' };
      const found = countByEntity(spans);
      const reason = `PII found: ${Object.entries(found)
        .map(([entity, count]) => `${count} ${entity}`)
        .join(', ')}`;
      if (action === 'redact')
        return { action: 'redact', text: replaceSpans(text, spans), reason, details: { found } };
      return { action, reason, details: { found } };
    },
  });
}

function countByEntity(spans: readonly PiiSpan[]): Partial<Record<PiiEntity, number>> {
  const counts: Partial<Record<PiiEntity, number>> = {};
  for (const span of spans) counts[span.entity] = (counts[span.entity] ?? 0) + 1;
  return counts;
}
