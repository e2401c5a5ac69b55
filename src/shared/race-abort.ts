/**
 * The promise's value, or "aborted" as soon as the signal fires. The promise keeps running: this only
 * stops the caller from waiting on a peer that ignores (or cannot honour) cancellation.
 */
export function raceAbort<T>(signal: AbortSignal, p: Promise<T>): Promise<T | "aborted"> {
  if (signal.aborted) return Promise.resolve("aborted");
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve("aborted");
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
