import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../../src/observability/logger.js";

/** A real logger whose lines tests can read (and grep for secrets). */
export function recordingLogger(level = "debug"): { log: Logger; text: () => string; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    log: createLogger({ level, destination }),
    text: () => chunks.join(""),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
