// A value computed on a timer and read for free: Prometheus scrapes (any number of them, from anyone
// who reaches /metrics) must not each run a count over every registration. A failed refresh keeps the
// last value, so a scrape while the database is down still answers.

export interface PeriodicValue<T> {
  /** The last value computed (undefined before the first refresh ends). Never waits for the database. */
  read(): Promise<T | undefined>;
  /** Computes now and then every intervalMs; one refresh at a time. */
  start(): void;
  stop(): void;
}

export function periodicValue<T>(compute: () => Promise<T>, intervalMs: number): PeriodicValue<T> {
  let value: T | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  const refresh = async () => {
    if (running) return;
    running = true;
    try {
      value = await compute();
    } catch {
      // keep the last value; the database's own health shows in /readyz
    } finally {
      running = false;
    }
  };
  return {
    read: async () => value,
    start() {
      if (timer) return;
      void refresh();
      timer = setInterval(() => void refresh(), intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
