import { KeelError } from './keel-error.js';

/** The config file is missing, does not load, or does not export valid agents. */
export class ConfigError extends KeelError {
  constructor(
    code: 'config_not_found' | 'config_invalid' | 'config_load_failed',
    message: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super({ code, message, fault: 'caller', details, cause });
  }
}

/** No agent of that name is defined in the loaded config. */
export class UnknownAgentError extends KeelError {
  constructor(agent: string, known: readonly string[]) {
    super({
      code: 'unknown_agent',
      message: `Unknown agent "${agent}". Defined agents: ${known.length ? known.join(', ') : '(none)'}.`,
      fault: 'caller',
      details: { agent, known },
    });
  }
}

/** A tool definition is not usable (bad name, schema that is not an object, bad limits). */
export class InvalidToolError extends KeelError {
  constructor(tool: string, reason: string) {
    super({
      code: 'invalid_tool',
      message: `Tool "${tool}" is invalid: ${reason}`,
      fault: 'caller',
      details: { tool },
    });
  }
}

/** An agent definition is not usable. */
export class InvalidAgentError extends KeelError {
  constructor(agent: string, reason: string) {
    super({
      code: 'invalid_agent',
      message: `Agent "${agent}" is invalid: ${reason}`,
      fault: 'caller',
      details: { agent },
    });
  }
}
