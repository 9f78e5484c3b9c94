/** Runs fn a turn of the event loop later, as work on another thread would finish: settles with its outcome. */
export function later(fn: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    setImmediate(() => {
      try {
        fn();
        resolve();
      } catch (e) {
        reject(e as Error);
      }
    }),
  );
}
