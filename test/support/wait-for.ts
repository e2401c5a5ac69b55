/**
 * The one way tests wait for something to happen: poll `check` until it returns a value other than
 * `undefined` or `false` (that value is returned), bounded by `timeoutMs`. The timeout error names `what`
 * and the time waited, so a failing test says which condition never came. Errors thrown by `check` end
 * the wait at once: a broken check should fail loudly, not be retried into a timeout.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  pollMs = 50,
): Promise<T> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${Date.now() - started} ms (limit ${timeoutMs} ms) waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
  }
}
