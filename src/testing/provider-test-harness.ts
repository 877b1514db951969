/**
 * The harness of the provider adapter suites (OpenAI-compatible, Anthropic, Gemini): one fake
 * server per test file, and ways to run a call or a stream to its end and keep what it ended with.
 * It depends on vitest and is meant for Keel's own tests, not for application code.
 */
import { afterAll, beforeEach } from 'vitest';
import type { ModelStreamEvent } from '../model/model.js';

/** What the harness needs of a fake provider server; every `createFake*Server` returns one. */
export interface FakeProviderServer {
  /** Every request received, in order; cleared before each test. */
  requests: unknown[];
  close(): Promise<void>;
}

/**
 * Starts a fake server for the calling test file, to be awaited at its top level:
 * `const server = await startFakeServer(createFakeOpenAIServer);`. The server is closed after the
 * file's tests, and the requests it recorded are cleared before each test.
 */
export async function startFakeServer<Server extends FakeProviderServer>(
  start: () => Promise<Server>,
): Promise<Server> {
  const server = await start();
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.requests.length = 0;
  });
  return server;
}

/** Every event of a stream that must end cleanly (a model's stream, or any other). */
export async function collect<Event>(events: AsyncIterable<Event>): Promise<Event[]> {
  const collected: Event[] = [];
  for await (const event of events) collected.push(event);
  return collected;
}

/** Runs a stream to its end and returns the events seen and the error it ended with. */
export async function collectUntilError(
  events: AsyncIterable<ModelStreamEvent>,
): Promise<{ events: ModelStreamEvent[]; error: unknown }> {
  const collected: ModelStreamEvent[] = [];
  try {
    for await (const event of events) collected.push(event);
  } catch (error) {
    return { events: collected, error };
  }
  throw new Error(`the stream ended without an error after ${collected.length} events`);
}

/** Options of {@link collectUntilAbort}. */
export interface CollectUntilAbortOptions {
  /** A stream called with `controller.signal`. */
  events: AsyncIterable<ModelStreamEvent>;
  controller: AbortController;
  /** How many events arrive before the abort. */
  after: number;
  /** The abort reason. Default: none, so the signal's reason is an `AbortError`. */
  reason?: unknown;
}

/**
 * Runs a stream to its end, aborting once `after` events arrived, as a consumer that gives up
 * would; returns the events seen and the error the stream ended with.
 */
export async function collectUntilAbort({
  events,
  controller,
  after,
  reason,
}: CollectUntilAbortOptions): Promise<{ events: ModelStreamEvent[]; error: unknown }> {
  let seen = 0;
  return collectUntilError(
    (async function* () {
      for await (const event of events) {
        yield event;
        seen++;
        if (seen === after) controller.abort(reason);
      }
    })(),
  );
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}
