import { X509Certificate } from "node:crypto";
import apn from "@parse/node-apn";
import type { ApnsConfig } from "../../config/config-schema.js";
import type { DeliveryOutcome } from "../../domain/delivery-outcome.js";
import type { ApnsEnvironment } from "../../domain/registration.js";
import type { Logger } from "../../observability/logger.js";
import { systemClock } from "../../ports/clock.js";
import type { PushAttempt, PushProvider } from "../../ports/push-provider.js";
import { raceAbort } from "../../shared/race-abort.js";
import { classifyApns } from "./apns-outcomes.js";
import { buildApnsRequest, type ApnsRequest } from "./apns-payload.js";
import { createProvenSetup } from "../proven-setup.js";
import type { ProviderDeps } from "../provider-deps.js";

// APNs through @parse/node-apn 8.1, behind our own discipline (docs/provider-internals.md "Clients", "APNs"):
// - connectionRetryLimit 0: its retries ignore Retry-After (Node lowercases the header it looks
//   for) and re-mint JWTs; retrying is the delivery pipeline's job.
// - our own in-flight limit per connection: node-apn opens every stream at once, and bursts fail
//   with REFUSED_STREAM / write timeouts. A fresh connection takes one request until it has answered
//   (APNs allows one stream before the first authenticated request).
// - a pool of connections per environment, each a node-apn Provider with its own HTTP/2 session;
//   one instance per app, so one pool per team × environment × key.
// - the reason read from the response, or from the error object when node-apn loses it.

export interface ApnsProvider extends PushProvider {
  /** When the client certificate expires (certificate auth only), for the expiry metric. */
  readonly certificateExpiresAt?: Date;
}

interface Connection {
  readonly client: apn.Provider;
  inFlight: number;
  warmed: boolean;
}

interface Waiter {
  readonly resolve: (c: Connection | undefined) => void;
}

export function createApnsProvider({ app, config, log, proxy, clock = systemClock }: ProviderDeps<ApnsConfig>): ApnsProvider {
  const pools = new Map<ApnsEnvironment, { connections: Connection[]; waiting: Waiter[] }>();
  // A wrong defaultEnvironment or bundleId makes Apple call every token bad: blamed on our setup until
  // this environment has delivered.
  const setup = createProvenSetup<ApnsEnvironment>({
    clock,
    rule: {
      doubtful: (o) => o.reason === "BadDeviceToken" || o.reason === "DeviceTokenNotForTopic",
      blame: "config_error",
      hint: (environment) => `no push to ${environment} has succeeded yet: check bundleId and defaultEnvironment`,
    },
  });
  let closed = false;

  const options = (environment: ApnsEnvironment): apn.ProviderOptions => ({
    ...(config.key !== undefined
      ? { token: { key: config.key, keyId: config.keyId!, teamId: config.teamId! } }
      : { cert: config.cert!, key: config.privateKey! }),
    ...(config.passphrase !== undefined ? { passphrase: config.passphrase } : {}),
    production: environment === "production",
    ...(config.address !== undefined ? { address: config.address } : {}),
    ...(config.port !== undefined ? { port: config.port } : {}),
    ...(config.ca !== undefined ? { ca: [config.ca] } : {}),
    // node-apn opens a CONNECT tunnel to address:port through the proxy for every HTTP/2 session.
    ...(proxy !== undefined ? { proxy: { host: proxy.host, port: proxy.port } } : {}),
    connectionRetryLimit: 0,
    // Longer than any sensible provider timeout: the pipeline's AbortSignal decides when to give up.
    requestTimeout: 30_000,
  });

  const pool = (environment: ApnsEnvironment) => {
    let p = pools.get(environment);
    if (!p) {
      p = {
        connections: Array.from({ length: config.connections }, () => ({
          client: new apn.Provider(options(environment)),
          inFlight: 0,
          warmed: false,
        })),
        waiting: [],
      };
      pools.set(environment, p);
    }
    return p;
  };

  const capacity = (c: Connection) => (c.warmed ? config.maxInFlightPerConnection : 1);

  const acquire = (environment: ApnsEnvironment, signal: AbortSignal): Promise<Connection | undefined> => {
    const p = pool(environment);
    const free = p.connections.filter((c) => c.inFlight < capacity(c)).sort((a, b) => a.inFlight - b.inFlight)[0];
    if (free) {
      free.inFlight += 1;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve: (c) => {
          signal.removeEventListener("abort", onAbort);
          resolve(c);
        },
      };
      const onAbort = () => {
        p.waiting.splice(p.waiting.indexOf(waiter), 1);
        resolve(undefined);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      p.waiting.push(waiter);
    });
  };

  const release = (environment: ApnsEnvironment, c: Connection) => {
    c.inFlight -= 1;
    const p = pool(environment);
    while (p.waiting.length > 0) {
      const free = p.connections.find((x) => x.inFlight < capacity(x));
      if (!free) return;
      free.inFlight += 1;
      p.waiting.shift()!.resolve(free);
    }
  };

  const send = async (req: ApnsRequest, environment: ApnsEnvironment, signal: AbortSignal): Promise<DeliveryOutcome> => {
    const conn = await acquire(environment, signal);
    if (!conn) return { class: "retry", reason: "local-queue-timeout" };
    const note = new apn.Notification();
    note.topic = req.topic;
    note.pushType = req.pushType;
    note.priority = req.priority;
    note.expiry = req.expiry;
    note.id = req.id;
    if (req.collapseId !== undefined) note.collapseId = req.collapseId;
    note.rawPayload = req.payload;
    // The slot is held until node-apn is done with the stream, even when our caller stops waiting.
    const sending = conn.client.send(note, req.token).finally(() => release(environment, conn));
    const answer = await raceAbort(signal, sending);
    if (answer === "aborted") return { class: "retry", reason: "timeout", maybeDelivered: true };
    const { sent, failed } = answer;
    const ok = sent[0] as (apn.ResponseSent & { "apns-id"?: string }) | undefined;
    // An HTTP answer means the session is up and has told us its stream limit; a transport failure
    // means node-apn will open a fresh session next time, which starts cold again.
    conn.warmed = ok !== undefined || failed[0]?.status !== undefined;
    if (ok) return setup.judge(environment, { class: "delivered", status: 200, messageId: ok["apns-id"] ?? req.id });
    return setup.judge(environment, normalise(failed[0]));
  };

  const normalise = (f: apn.ResponseFailure | undefined): DeliveryOutcome => {
    const status = f?.status !== undefined && Number.isFinite(Number(f.status)) ? Number(f.status) : undefined;
    // node-apn keeps the reason in the response body, or only in the error message (403 ExpiredProviderToken, 500).
    const reason = f?.response?.reason ?? f?.error?.message;
    const timestamp = f?.response?.timestamp !== undefined ? Number(f.response.timestamp) : undefined;
    return classifyApns({
      ...(status !== undefined ? { status } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...(timestamp !== undefined && Number.isFinite(timestamp) ? { timestamp } : {}),
    });
  };

  const certificateExpiresAt = config.cert !== undefined ? certificateExpiry(config.cert, log) : undefined;

  return {
    kind: "apns",
    name: `apns:${app}`,
    ...(certificateExpiresAt !== undefined ? { certificateExpiresAt } : {}),
    credentialExpiresAt: () => certificateExpiresAt,
    async send(attempt: PushAttempt) {
      if (closed) return { class: "retry", reason: "provider closed" };
      const environment = attempt.address.environment ?? config.defaultEnvironment;
      const req = buildApnsRequest(attempt, config, Math.floor(clock.now().getTime() / 1000));
      return send(req, environment, attempt.signal);
    },
    async close() {
      closed = true;
      for (const p of pools.values()) {
        for (const w of p.waiting.splice(0)) w.resolve(undefined);
        await Promise.allSettled(p.connections.map((c) => c.client.shutdown()));
      }
      pools.clear();
    },
  };
}

function certificateExpiry(pem: string, log: Logger): Date | undefined {
  try {
    return new Date(new X509Certificate(pem).validTo);
  } catch (err) {
    log.warn({ err: { message: (err as Error).message } }, "cannot read the APNs certificate's expiry date");
    return undefined;
  }
}
