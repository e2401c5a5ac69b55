import type { Config } from "../config/config-schema.js";
import { restDialect } from "../dialects/rest/rest-dialect.js";
import { bareJid, domainOf } from "../domain/jid.js";
import type { AddressKind, ApnsEnvironment, EpochMs } from "../domain/registration.js";
import { tokenFingerprint } from "../domain/secret.js";
import { createServer, type Server } from "../main.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { systemClock, type Clock } from "../ports/clock.js";
import type { DeliveryRecord } from "../ports/delivery-audit.js";
import { createRegistrationCache } from "../registration/registration-cache.js";
import { createRegistrationService, type RegistrationService } from "../registration/registration-service.js";
import { createPgDeliveryAudit } from "../store/delivery-audit-pg.js";
import { createPgDeliveryQueue } from "../store/delivery-queue-pg.js";
import { openDatabase, type Database } from "../store/database.js";
import { passMigrationGate } from "../store/migrate.js";
import { createPgRegistrationStore, NodeTakenError } from "../store/registration-store-pg.js";
import { passTokenKeyGate } from "../store/token-key-check.js";
import { tokenCipherFor } from "../store/token-cipher.js";
import { formatTable, parseDuration } from "./format.js";

// The admin commands: each opens what it needs (only send-test boots the whole server: it pushes
// through the real pipeline), does one thing, prints for a person, and closes.
// They talk to the database directly (a Postgres server may be shared with a running xmpp-push; the
// embedded database can be opened by one process at a time, so stop the server or use its HTTP API).

export class UsageError extends Error {}

type Out = (text: string) => void;

/** Opens the database for a command, applying pending migrations when the config says so (as `serve` does). */
export async function openDb(config: Config): Promise<Database> {
  const db = await openDatabase({ ...config.database, lockWaitMs: 2000 });
  try {
    await passMigrationGate(db, config.database.migrateOnStart);
    return db;
  } catch (err) {
    await db.close();
    throw err;
  }
}

/**
 * The registration side alone (store, cache, service) on a database that passed both gates: what
 * `register` and `unregister` need, without the providers, the XMPP component and the HTTP server.
 */
async function withRegistrations<T>(config: Config, fn: (registrations: RegistrationService) => Promise<T>): Promise<T> {
  const db = await openDb(config);
  try {
    const cipher = tokenCipherFor(config);
    await passTokenKeyGate(db.knex, cipher, quietLogger(config));
    const store = createPgRegistrationStore({ knex: db.knex, cipher });
    // One command, one lookup: nothing worth caching.
    const cache = createRegistrationCache({ store, maxEntries: 1, ttlMs: 0, negativeTtlMs: 0 });
    return await fn(
      createRegistrationService({ store, cache, config, clock: systemClock, isNodeTaken: (err) => err instanceof NodeTakenError }),
    );
  } finally {
    await db.close();
  }
}

/** Commands print for a person: the server's info lines would only be noise. */
function quietLogger(config: Config): Logger {
  return createLogger({ level: config.log.level === "info" ? "warn" : config.log.level });
}

async function withServer<T>(config: Config, clock: Clock, fn: (server: Server, log: Logger) => Promise<T>): Promise<T> {
  const log = quietLogger(config);
  const server = await createServer(config, { log, clock });
  try {
    return await fn(server, log);
  } finally {
    await server.stop();
  }
}

export async function auditCommand(
  config: Config,
  opts: { node: string; limit: number; since?: string },
  out: Out,
  clock: Clock,
): Promise<void> {
  const sinceMs = opts.since !== undefined ? parseDuration(opts.since) : undefined;
  if (opts.since !== undefined && sinceMs === undefined)
    throw new UsageError(`--since takes a duration such as 1h or 7d, not "${opts.since}"`);
  const db = await openDb(config);
  try {
    const reg = await createPgRegistrationStore({ knex: db.knex, cipher: tokenCipherFor(config) }).findByNode(opts.node);
    const rows = await createPgDeliveryAudit({ knex: db.knex }).list({
      node: opts.node,
      limit: opts.limit,
      ...(sinceMs !== undefined ? { since: new Date(clock.now().getTime() - sinceMs) } : {}),
    });
    if (reg) {
      out(
        `node ${reg.node}: app ${reg.app}, ${reg.ownerJid || "(no account)"}, ${reg.dialect}, registered ${iso(reg.createdAtMs)}, updated ${iso(reg.updatedAtMs)}`,
      );
      out(
        `  last push: ${reg.lastPushAtMs !== undefined ? iso(reg.lastPushAtMs) : "never"}; ${reg.disabledAtMs !== undefined ? `DISABLED ${iso(reg.disabledAtMs)}: ${reg.disabledReason ?? ""}` : "active"}`,
      );
      for (const a of reg.addresses) {
        out(
          `  ${a.provider} ${a.environment ?? ""} token ${tokenFingerprint(a.token)}…${a.voipToken ? " +voip" : ""} updated ${iso(a.updatedAtMs)}${a.disabledAtMs !== undefined ? ` DISABLED ${iso(a.disabledAtMs)}: ${a.disabledReason ?? ""}` : ""}`,
        );
      }
    } else {
      out(`node ${opts.node}: no such registration (it may have been removed; its delivery history follows)`);
    }
    out(rows.length === 0 ? "no delivery attempts recorded" : auditTable(rows));
  } finally {
    await db.close();
  }
}

export function auditTable(rows: readonly DeliveryRecord[]): string {
  return formatTable(
    ["time", "provider", "env", "outcome", "status", "reason", "try", "ms", "push", "receipt"],
    rows.map((r) => [
      iso(r.createdAt),
      r.provider,
      r.environment ?? "",
      r.outcome,
      r.status?.toString() ?? "",
      r.reason ?? "",
      String(r.attempt),
      String(r.latencyMs),
      r.pushId.slice(0, 8),
      receiptText(r),
    ]),
  );
}

/** What the provider confirmed: "received 2026-11-29T12:03:07Z via vendor", "not yet", "not received", "unconfirmed"; empty without receipts. */
function receiptText(r: DeliveryRecord): string {
  if (r.receipt === "received")
    return `received${r.receiptAt ? ` ${iso(r.receiptAt)}` : ""}${r.receiptChannel ? ` via ${r.receiptChannel}` : ""}`;
  if (r.receipt === "pending") return "not yet";
  if (r.receipt === "not_received") return "not received";
  return r.receipt ?? "";
}

export async function purgeCommand(config: Config, opts: { olderThan: string }, out: Out, clock: Clock): Promise<void> {
  const ms = parseDuration(opts.olderThan);
  if (ms === undefined) throw new UsageError(`--older-than takes a duration such as 30d, not "${opts.olderThan}"`);
  const db = await openDb(config);
  try {
    const cutoff = new Date(clock.now().getTime() - ms);
    const { deletedRows, droppedPartitions } = await createPgDeliveryAudit({ knex: db.knex }).purgeOlderThan(cutoff);
    out(`deleted ${deletedRows} delivery record(s) older than ${iso(cutoff)}`);
    // Whole days go as one partition each; the day that straddles the cutoff stays until all of it is older.
    if (droppedPartitions.length > 0)
      out(`dropped ${droppedPartitions.length} partition(s) of older records: ${droppedPartitions.join(", ")}`);
  } finally {
    await db.close();
  }
}

export async function statsCommand(config: Config, out: Out, clock: Clock): Promise<void> {
  const db = await openDb(config);
  try {
    const now = clock.now();
    const regs = await createPgRegistrationStore({ knex: db.knex, cipher: tokenCipherFor(config) }).countAddresses();
    out("registrations (device addresses)");
    out(
      formatTable(
        ["app", "provider", "live", "total"],
        regs.map((r) => [r.app, r.provider, String(r.live), String(r.total)]),
      ),
    );
    const outcomes = await createPgDeliveryAudit({ knex: db.knex }).countOutcomesSince(new Date(now.getTime() - 86_400_000));
    out("\ndelivery attempts, last 24 h");
    out(
      formatTable(
        ["app", "provider", "outcome", "count"],
        outcomes.map((r) => [r.app, r.provider, r.outcome, String(r.count)]),
      ),
    );
    const q = await createPgDeliveryQueue({ knex: db.knex }).stats(now);
    out(`\nqueue: ${q.depth} push(es) waiting${q.depth > 0 ? `, oldest since ${iso(new Date(now.getTime() - q.oldestAgeMs))}` : ""}`);
  } finally {
    await db.close();
  }
}

export async function registerCommand(
  config: Config,
  opts: { jid: string; device: string; provider: string; token: string; app?: string; environment?: string; voipToken?: string },
  out: Out,
): Promise<void> {
  if (!["apns", "jpush", "fcm"].includes(opts.provider)) throw new UsageError("--provider is apns, jpush or fcm");
  if (opts.environment !== undefined && opts.environment !== "sandbox" && opts.environment !== "production")
    throw new UsageError("--environment is sandbox or production");
  await withRegistrations(config, async (registrations) => {
    const r = await registrations.register({
      ownerJid: bareJid(opts.jid) ?? opts.jid.toLowerCase(),
      deviceId: opts.device,
      dialect: restDialect.name,
      provider: opts.provider as AddressKind,
      token: opts.token,
      withSecret: true,
      ...(opts.app !== undefined ? { app: opts.app } : {}),
      ...(opts.environment !== undefined ? { environment: opts.environment as ApnsEnvironment } : {}),
      ...(opts.voipToken !== undefined ? { voipToken: opts.voipToken } : {}),
    });
    if (!r.ok) throw new UsageError(r.message);
    out(`${r.created ? "registered" : "updated"}: jid ${config.component.domain} node ${r.registration.node} secret ${r.secret}`);
    out(
      `enable it on the user's server with <enable xmlns='urn:xmpp:push:0' jid='${config.component.domain}' node='${r.registration.node}'> and the secret in publish-options`,
    );
  });
}

export async function unregisterCommand(config: Config, opts: { node: string }, out: Out): Promise<void> {
  await withRegistrations(config, async (registrations) => {
    const removed = await registrations.removeNode(opts.node);
    if (!removed) throw new UsageError(`no registration with node ${opts.node}`);
    out(`removed ${opts.node}`);
  });
}

export async function sendTestCommand(config: Config, opts: { node: string; body?: string }, out: Out, clock: Clock): Promise<number> {
  return withServer(config, clock, async (server) => {
    const reg = await server.registrationStore.findByNode(opts.node);
    if (!reg) throw new UsageError(`no registration with node ${opts.node}`);
    const fromDomain = domainOf(reg.ownerJid) || config.domains[0]!;
    const started = clock.now();
    const outcome = await server.publish.publish({
      fromDomain,
      node: reg.node,
      options: new Map(),
      fromOperator: true,
      notification: { priority: "high", call: false, messageCount: 1, lastMessageBody: opts.body ?? "Test push from xmpp-push" },
    });
    await server.writes.flush();
    const rows = await createPgDeliveryAudit({ knex: server.db.knex }).list({ node: reg.node, since: started, limit: 20 });
    out(`outcome: ${outcome}`);
    if (rows.length > 0) out(auditTable([...rows].reverse()));
    return outcome === "delivered" ? 0 : 1;
  });
}

function iso(d: Date | EpochMs): string {
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, "Z");
}
