/**
 * A reusable "something changed" signal: `wait(ms)` resolves on the next `notify()` or after
 * `ms`, whichever is first. A notify with nobody waiting is remembered once, so a wake-up that
 * races with going to sleep is never lost.
 */
export function createWakeSignal() {
  let pending = false;
  let release: (() => void) | undefined;
  return {
    notify(): void {
      if (release) {
        const resolve = release;
        release = undefined;
        resolve();
      } else pending = true;
    },
    wait(ms: number): Promise<void> {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          release = undefined;
          resolve();
        }, ms);
        release = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  };
}
