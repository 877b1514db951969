/**
 * Settles like `operation()`, or rejects with the signal's reason as soon as the signal aborts
 * (for work that does not take a signal itself, such as a stream read or a user's tool).
 */
export function raceAbort<T>(operation: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return operation();
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  const promise = operation();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
