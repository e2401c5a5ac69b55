import { pino, type Logger, type LoggerOptions, type DestinationStream } from "pino";
import { PinoPretty } from "pino-pretty";

export type { Logger } from "pino";

// Field names whose values never reach a log line, at any depth. pino's own `redact` only takes fixed
// paths (one wildcard level), and secrets turn up nested (a registration's addresses, an HTTP client error's
// config.headers), so the log formatter walks the object instead. Logging is off the per-push hot path.
const SECRET_NAME =
  /^(auth|authorization|cookie|password|passphrase|secret|token|key|privatekey|mastersecret|apikey|serviceaccount|cert)$|(secret|token|password|passphrase|privatekey|apikey|authorization|secrethash|tokenhash)$/i;
const MAX_DEPTH = 8;

export function isSecretFieldName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function redactDeep(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return "[depth]";
  if (seen.has(value)) return "[circular]";
  seen.add(value);
  if (value instanceof Error) {
    const out: Record<string, unknown> = { type: value.name, message: value.message };
    if (value.stack) out.stack = value.stack;
    for (const [k, v] of Object.entries(value)) {
      out[k] = isSecretFieldName(k) ? "[redacted]" : redactDeep(v, depth + 1, seen);
    }
    return out;
  }
  if (value instanceof Date || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretFieldName(k) && v !== undefined && v !== null ? "[redacted]" : redactDeep(v, depth + 1, seen);
  }
  return out;
}

export interface CreateLoggerOptions {
  level: string;
  /** Where lines go; stdout when absent. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
  /**
   * Human-readable lines (time, level, message, then the fields) instead of JSON. Default: when stdout
   * is a terminal, i.e. a person runs `npm start` or the CLI; containers, pipes and files get JSON.
   */
  pretty?: boolean;
}

export function createLogger({
  level,
  destination,
  pretty = destination === undefined && process.stdout.isTTY === true,
}: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => redactDeep(obj) as Record<string, unknown>,
    },
    // The formatter above sees `err` already serialized by pino; keep pino's serializer so stacks survive.
    serializers: { err: pino.stdSerializers.err },
  };
  // In-process (not a worker-thread transport): a terminal reads slowly anyway, and nothing is lost
  // when the process exits right after its last line. Redaction has already happened above.
  if (pretty)
    return pino(
      options,
      PinoPretty({
        colorize: destination === undefined,
        translateTime: "SYS:HH:MM:ss.l",
        sync: true,
        ...(destination ? { destination } : {}),
      }),
    );
  return destination ? pino(options, destination) : pino(options);
}
