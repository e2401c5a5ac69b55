import type { Server } from "node:net";

// What the three provider fakes share: listening on a free loopback port, and answering after a delay
// with timers that stop() can clear.

/** Listens on 127.0.0.1 on a free port; resolves with the port. */
export function listenOnLoopback(server: Server): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/** Runs `answer` after `waitMs` (at once when 0), tracking the timer in `timers`. */
export function answerAfter(timers: Set<NodeJS.Timeout>, waitMs: number, answer: () => void): void {
  if (waitMs <= 0) {
    answer();
    return;
  }
  const timer = setTimeout(() => {
    timers.delete(timer);
    answer();
  }, waitMs);
  timers.add(timer);
}
