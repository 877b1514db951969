import { KeelError } from './keel-error.js';

/** A prompt version the agent's registry does not have (or a name that is no version, such as `v0`). */
export class PromptVersionNotFoundError extends KeelError {
  constructor(agent: string, version: string) {
    super({
      code: 'prompt_version_not_found',
      message: `Agent "${agent}" has no prompt version ${JSON.stringify(version)} (versions are named v1, v2...).`,
      fault: 'caller',
      details: { agent, version },
    });
  }
}

/** A pushed prompt with no text but white space. */
export class EmptyPromptError extends KeelError {
  constructor(agent: string) {
    super({
      code: 'prompt_empty',
      message: `The prompt pushed for agent "${agent}" is empty.`,
      fault: 'caller',
      details: { agent },
    });
  }
}

/** A pushed prompt longer than the registry keeps. */
export class PromptTooLargeError extends KeelError {
  constructor(agent: string, length: number, maxLength: number) {
    super({
      code: 'prompt_too_large',
      message: `The prompt pushed for agent "${agent}" has ${length} characters; at most ${maxLength} are kept.`,
      fault: 'caller',
      details: { agent, length, maxLength },
    });
  }
}

/** A rollback of an agent that has no pinned version (it already runs the instructions in code). */
export class PromptNotPinnedError extends KeelError {
  constructor(agent: string) {
    super({
      code: 'prompt_not_pinned',
      message: `Agent "${agent}" has no pinned prompt version to roll back (it runs the instructions in code).`,
      fault: 'caller',
      details: { agent },
    });
  }
}

/**
 * An erase of a user with runs a worker is executing right now: deleting them under the worker
 * would race its journal writes. Cancel them (or wait for them to end) and erase again.
 */
export class UserRunsLiveError extends KeelError {
  constructor(userId: string, runIds: readonly string[]) {
    super({
      code: 'user_runs_running',
      message:
        `User ${JSON.stringify(userId)} has ${runIds.length} run(s) executing now (${runIds.slice(0, 10).join(', ')}); ` +
        `cancel them or wait for them to end, then erase again.`,
      fault: 'caller',
      retryable: true,
      details: { userId, runIds: runIds.slice(0, 100) },
    });
  }
}
