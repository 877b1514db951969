import { InvalidAgentError } from '../errors/config-errors.js';
import type { Message } from '../model/model.js';
import { mapContentText } from '../model/content-parts.js';
import { redactPii } from '../guards/pii.js';
import { canonicalJson } from '../util/canonical-hash.js';
import type { Logger } from '../util/logger.js';

/**
 * PII-safe storage (issue 10, build 8): what a run stores (its input, every step's output, error
 * and meta, its output, its logs) passes through the run's redaction rules before it is written.
 *
 * A rule is a named built-in (`'pii'`: e-mail addresses, phone numbers, card numbers, IBANs, US
 * SSNs, API keys and bearer tokens: `redactPii` of src/guards/pii.ts) or a function of a text. Within one
 * execution the model sees the original model and tool outputs unless the agent says
 * `redactFromModel: true`; the journal never holds them, so an execution that resumes the run
 * after a crash sees the redacted ones (docs/guarantees.md states the trade-off).
 */
export type RedactionRule = 'pii' | ((text: string) => string);

/** A run's rules as one function of a text (the rules applied in order). */
export type TextRedactor = (text: string) => string;

/** Built-in rules by name. */
const BUILT_IN_RULES: ReadonlyMap<string, TextRedactor> = new Map([
  ['pii', (text: string) => redactPii(text)],
]);

/** Checks an agent's (or a tenant's) rules; throws `invalid_agent` naming the bad one. */
export function assertRedactionRules(owner: string, rules: unknown): asserts rules is RedactionRule[] {
  if (!Array.isArray(rules))
    throw new InvalidAgentError(owner, 'redact must be a list of rules, e.g. ["pii"]');
  for (const [index, rule] of rules.entries()) {
    if (typeof rule === 'function') continue;
    if (rule !== 'pii') {
      throw new InvalidAgentError(
        owner,
        `redact[${index}] must be "pii" or a function of a text, not ${JSON.stringify(rule)}`,
      );
    }
  }
}

/** The rules of a run as one redactor, or undefined when there are none. */
export function redactorOf(rules: readonly RedactionRule[] | undefined): TextRedactor | undefined {
  if (!rules || rules.length === 0) return undefined;
  const steps = rules.map((rule) => {
    if (typeof rule === 'function') return rule;
    return BUILT_IN_RULES.get(rule)!;
  });
  return jsonAware((text) => steps.reduce((current, step) => step(current), text));
}

/**
 * A redactor that keeps JSON text JSON: a text that parses as an object or an array (tool-call
 * arguments, a tool result) has its strings redacted one by one and is written back as canonical
 * JSON, so a pattern never runs across an escape (`\n` + an address) and the result still parses.
 * A replay, which rebuilds the same text from redacted values, then gets the same text: the
 * identities of steps match. Numbers are not redacted (a phone number stored as a number stays).
 */
function jsonAware(redact: TextRedactor): TextRedactor {
  const redactText: TextRedactor = (text) => {
    const first = text.trimStart()[0];
    if (first === '{' || first === '[') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text) as unknown;
      } catch {
        return redact(text);
      }
      return canonicalJson(redactStrings(parsed, redactText));
    }
    return redact(text);
  };
  return redactText;
}

function redactStrings(value: unknown, redact: TextRedactor): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => redactStrings(item, redact));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactStrings(item, redact)]));
}

/** Both sets of rules (an agent's and its tenant's) as one redactor. */
export function combinedRedactor(
  ...redactors: readonly (TextRedactor | undefined)[]
): TextRedactor | undefined {
  const present = redactors.filter((redactor): redactor is TextRedactor => redactor !== undefined);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  return jsonAware((text) => present.reduce((current, redact) => redact(current), text));
}

/** Every string of a JSON value redacted (keys kept: they are field names, not data). */
export function redactValue<T>(value: T, redact: TextRedactor): T {
  return redactAny(value, redact) as T;
}

function redactAny(value: unknown, redact: TextRedactor): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => redactAny(item, redact));
  if (value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactAny(item, redact)]));
}

/** A conversation message with its text (and tool-call arguments) redacted. */
export function redactMessage(message: Message, redact: TextRedactor): Message {
  switch (message.role) {
    case 'assistant':
      return {
        ...message,
        content: redact(message.content),
        ...(message.toolCalls
          ? { toolCalls: message.toolCalls.map((call) => ({ ...call, arguments: redact(call.arguments) })) }
          : {}),
      };
    case 'user':
    case 'tool':
      return { ...message, content: mapContentText(message.content, redact) };
    default:
      return { ...message, content: redact(message.content) };
  }
}

/** A logger whose messages and field values are redacted before they are written. */
export function redactingLogger(logger: Logger, redact: TextRedactor): Logger {
  const fields = (value: Record<string, unknown> | undefined) =>
    value === undefined ? undefined : redactValue(value, redact);
  return {
    debug: (message, extra) => logger.debug(redact(message), fields(extra)),
    info: (message, extra) => logger.info(redact(message), fields(extra)),
    warn: (message, extra) => logger.warn(redact(message), fields(extra)),
    error: (message, extra) => logger.error(redact(message), fields(extra)),
    child: (extra) => redactingLogger(logger.child(redactValue(extra, redact)), redact),
  };
}

/** Redaction rules per tenant (config `redact: { tenants: { acme: ['pii'] } }`). */
export type TenantRedaction = Readonly<Record<string, readonly RedactionRule[]>>;

/** The redactor of a run: its agent's rules, then its tenant's; undefined when neither has any. */
export function runRedactor(
  agent: { redact?: readonly RedactionRule[] } | undefined,
  tenantId: string,
  tenants: TenantRedaction | undefined,
): TextRedactor | undefined {
  const own = tenants && Object.hasOwn(tenants, tenantId) ? tenants[tenantId] : undefined;
  return combinedRedactor(redactorOf(agent?.redact), redactorOf(own));
}
