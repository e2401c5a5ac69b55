import { X509Certificate } from "node:crypto";
import type { ApnsConfig } from "../../config/config-schema.js";
import type { DeliveryOutcome } from "../../domain/delivery-outcome.js";
import type { ApnsEnvironment } from "../../domain/registration.js";
import type { Logger } from "../../observability/logger.js";
import { systemClock } from "../../ports/clock.js";
import type { PushAttempt, PushProvider } from "../../ports/push-provider.js";
import { headerSeconds, parseJsonBody, transportOutcome } from "../http-transport.js";
import { classifyApns } from "./apns-outcomes.js";
import { createApnsConnection, type ApnsConnection, type ApnsHttpAnswer } from "./apns-connection.js";
import { buildApnsRequest, type ApnsRequest } from "./apns-payload.js";
import { createProviderToken, type ProviderToken } from "./apns-token.js";
import { createProvenSetup } from "../proven-setup.js";
import type { ProviderDeps } from "../provider-deps.js";

// The APNs adapter (docs/provider-internals.md "Clients", "APNs"): payload (apns-payload), HTTP/2
// connection (apns-connection), outcome table (apns-outcomes); here the discipline around them:
// - one request per attempt, no retries of its own: retrying is the delivery pipeline's job;
// - a pool of connections per environment, one pool per app (team × environment × key), each
//   connection with our own in-flight bound: APNs refuses streams past its limit, and a fresh
//   connection takes one request until it has answered (APNs allows one stream before the first
//   authenticated request);
// - one provider token for all of them, renewed when APNs calls it expired.

export interface ApnsProvider extends PushProvider {
  /** When the client certificate expires (certificate auth only), for the expiry metric. */
  readonly certificateExpiresAt?: Date;
}

interface Connection {
  readonly http: ApnsConnection;
  inFlight: number;
}

interface Waiter {
  readonly resolve: (c: Connection | undefined) => void;
}

const HOSTS: Readonly<Record<ApnsEnvironment, string>> = {
  production: "api.push.apple.com",
  sandbox: "api.sandbox.push.apple.com",
};

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
  const token: ProviderToken | undefined =
    config.key !== undefined ? createProviderToken({ key: config.key, keyId: config.keyId!, teamId: config.teamId!, clock }) : undefined;
  let closed = false;

  const connect = (environment: ApnsEnvironment): ApnsConnection =>
    createApnsConnection({
      // `address` replaces Apple's host for both environments (local fakes, a test gateway).
      host: config.address ?? HOSTS[environment],
      port: config.port ?? 443,
      ca: config.ca,
      ...(config.cert !== undefined ? { cert: config.cert, key: config.privateKey, passphrase: config.passphrase } : {}),
      proxy,
    });

  const pool = (environment: ApnsEnvironment) => {
    let p = pools.get(environment);
    if (!p) {
      p = { connections: Array.from({ length: config.connections }, () => ({ http: connect(environment), inFlight: 0 })), waiting: [] };
      pools.set(environment, p);
    }
    return p;
  };

  const capacity = (c: Connection) => (c.http.warm ? config.maxInFlightPerConnection : 1);

  const acquire = (environment: ApnsEnvironment, signal: AbortSignal): Promise<Connection | undefined> => {
    const p = pool(environment);
    let free: Connection | undefined;
    for (const c of p.connections) if (c.inFlight < capacity(c) && (free === undefined || c.inFlight < free.inFlight)) free = c;
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
    const auth = token?.current();
    let answer: ApnsHttpAnswer;
    try {
      answer = await conn.http.request(
        {
          headers: {
            ":method": "POST",
            ":path": `/3/device/${req.token}`,
            "apns-topic": req.topic,
            "apns-push-type": req.pushType,
            "apns-priority": String(req.priority),
            "apns-expiration": String(req.expiry),
            "apns-id": req.id,
            ...(req.collapseId !== undefined ? { "apns-collapse-id": req.collapseId } : {}),
            ...(auth !== undefined ? { authorization: auth.header } : {}),
          },
          body: JSON.stringify(req.payload),
        },
        signal,
      );
    } catch (err) {
      // No HTTP answer: a timeout may have reached Apple, a refused stream never did.
      return transportOutcome(err);
    } finally {
      release(environment, conn);
    }
    if (answer.status === 200)
      return setup.judge(environment, { class: "delivered", status: 200, messageId: answer.headers.apnsId ?? req.id });
    const body = parseJsonBody(answer.body) as { reason?: unknown; timestamp?: unknown } | undefined;
    const reason = typeof body?.reason === "string" ? body.reason : undefined;
    const timestamp = body?.timestamp !== undefined ? Number(body.timestamp) : undefined;
    if (reason === "ExpiredProviderToken" && auth !== undefined) token?.expired(auth.generation);
    const retryAfterSeconds = headerSeconds(answer.headers.retryAfter);
    return setup.judge(
      environment,
      classifyApns({
        status: answer.status,
        ...(reason !== undefined ? { reason } : {}),
        ...(timestamp !== undefined && Number.isFinite(timestamp) ? { timestamp } : {}),
        ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      }),
    );
  };

  const certificateExpiresAt = config.cert !== undefined ? certificateExpiry(config.cert, log) : undefined;

  return {
    kind: "apns",
    name: `apns:${app}`,
    ...(certificateExpiresAt !== undefined ? { certificateExpiresAt } : {}),
    credentialExpiresAt: () => certificateExpiresAt,
    // Not async: it hands on send()'s promise instead of wrapping it in one more suspended frame, which
    // would live as long as the push (ARCHITECTURE.md, "What a push holds while it waits").
    send(attempt: PushAttempt) {
      if (closed) return Promise.resolve({ class: "retry", reason: "provider closed" });
      try {
        const environment = attempt.address.environment ?? config.defaultEnvironment;
        return send(buildApnsRequest(attempt, config, Math.floor(clock.now().getTime() / 1000)), environment, attempt.signal);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    },
    async close() {
      closed = true;
      for (const p of pools.values()) {
        for (const w of p.waiting.splice(0)) w.resolve(undefined);
        await Promise.allSettled(p.connections.map((c) => c.http.close()));
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
