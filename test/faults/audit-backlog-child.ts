// Child process of audit-backlog-memory.test.ts: the server's real write buffer and Postgres write store,
// with Postgres unreachable (nothing listens on the URL's port, as when the database is down), fed audit
// rows shaped like the server's until the buffer holds its maximum. Prints one JSON line of figures.
import { randomBytes, randomUUID } from "node:crypto";
import { getHeapStatistics } from "node:v8";
import knexFactory from "knex";
import { MAX_PENDING_AUDITS } from "../../src/delivery-core.js";
import { createWriteBuffer } from "../../src/delivery/write-buffer.js";
import { createLogger } from "../../src/observability/logger.js";
import { createPgWriteBatchStore } from "../../src/store/write-batch-pg.js";
import { createTokenCipher } from "../../src/store/token-cipher.js";
import { waitFor } from "../support/wait-for.js";

const rows = Number(process.env.BACKLOG_ROWS);
const knex = knexFactory({
  client: "pg",
  connection: process.env.BACKLOG_DATABASE_URL,
  pool: { min: 0, max: 2 },
  acquireConnectionTimeout: 2000,
});
let failedFlushes = 0;
let dropped = 0;
const writes = createWriteBuffer({
  store: createPgWriteBatchStore({ knex, cipher: createTokenCipher(undefined) }),
  flushMs: 25,
  maxBatch: 500,
  maxPendingAudits: MAX_PENDING_AUDITS, // as the server configures it
  touchIntervalMs: 60_000,
  log: createLogger({ level: "silent" }),
  onFlush: (_s, ok) => void (ok ? undefined : failedFlushes++),
  onAuditDropped: (n) => void (dropped += n),
});
for (let i = 0; i < rows; i++) {
  writes.recordAttempt({
    pushId: randomUUID(),
    node: randomBytes(15).toString("base64url"),
    app: "chat",
    provider: "apns",
    environment: "production",
    outcome: "retry",
    status: 503,
    reason: "ServiceUnavailable",
    attempt: 1 + (i % 3),
    latencyMs: 12,
    createdAt: new Date(),
  });
  // Let failing flushes run in between, as they do while pushes keep arriving.
  if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
}
const dropsExpected = rows - MAX_PENDING_AUDITS;
// A timeout is not an error here: the parent test asserts on the figures printed below.
await waitFor("failed flushes and dropped rows", () => failedFlushes >= 3 && dropped >= dropsExpected, 30_000, 100).catch(() => undefined);
const mb = (n: number) => Math.round(n / 1048576);
process.stdout.write(
  `${JSON.stringify({ rows, dropped, failedFlushes, heapUsedMb: mb(process.memoryUsage().heapUsed), heapLimitMb: mb(getHeapStatistics().heap_size_limit), rssMb: mb(process.memoryUsage().rss) })}\n`,
);
process.exit(0);
