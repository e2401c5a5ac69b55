import { randomUUID } from "node:crypto";
import type { AppConfig, Config } from "../config/config-schema.js";
import { publishOutcomeOf, type PublishOutcome, type PushResult } from "../domain/delivery-outcome.js";
import type { Notification, PushRequest } from "../domain/notification.js";
import { isActive, type Registration } from "../domain/registration.js";
import { secretMatches } from "../domain/secret.js";
import type { Clock } from "../ports/clock.js";
import type { QueuedJob } from "../ports/delivery-queue.js";
import type { Logger } from "../observability/logger.js";
import type { RegistrationCache } from "../registration/registration-cache.js";
import { domainOf } from "../registration/registration-service.js";
import type { Dispatcher } from "./dispatcher.js";
import type { FpushResolver } from "./fpush-registrations.js";
import type { PushRateLimiter } from "./push-rate-limiter.js";
import type { Settler } from "./settle.js";
import type { WriteBuffer } from "./write-buffer.js";
import { settleWithin } from "../shared/wait-at-most.js";

// What a publish from a user's server means, independent of XMPP: check it, try to deliver within the
// deadline, and say how it went (a PublishOutcome, domain/delivery-outcome.ts). The reply decides whether
// the user's server keeps the registration (docs/xmpp-server-setup.md), so every transient trouble must
// come out as `queued` (reply result) or `unavailable` (reply wait), never as a rejection.

export interface PublishInput {
  readonly fromDomain: string;
  readonly node: string;
  readonly options: ReadonlyMap<string, string>;
  readonly notification: Notification;
  /** `xmpp-push send-test`: the operator, not a user's server, so no publish secret (only its hash is stored). */
  readonly fromOperator?: boolean;
}

export interface PublishService {
  publish(input: PublishInput): Promise<PublishOutcome>;
  /** Resolves when every attempt started so far has finished (bounded by the caller). */
  drain(): Promise<void>;
}

export interface PublishServiceDeps {
  readonly config: Pick<Config, "domains" | "apps" | "delivery">;
  readonly cache: RegistrationCache;
  readonly fpush: FpushResolver;
  readonly dispatcher: Dispatcher;
  readonly writes: WriteBuffer;
  readonly settler: Settler;
  readonly rateLimiter: PushRateLimiter;
  readonly clock: Clock;
  readonly log: Logger;
}

type Lookup = { reg: Registration; app: AppConfig } | { outcome: PublishOutcome };

export function createPublishService(deps: PublishServiceDeps): PublishService {
  const { config, cache, fpush, dispatcher, writes, settler, rateLimiter, clock, log } = deps;
  const apps = new Map(config.apps.map((a) => [a.id, a]));
  const { syncDeadlineMs, providerTimeoutMs, jobTtlSeconds, maxInFlight } = config.delivery;
  // A write-ahead job is not due before its own first attempt can have finished (or timed out):
  // workers only pick it up when that attempt was lost, e.g. in a crash.
  const holdMs = Math.max(syncDeadlineMs, providerTimeoutMs) + 1000;
  // The write-ahead job is written only if the first attempt takes longer than half the reply's deadline
  // (the other half is for the write): most pushes are answered by the provider well within it and never
  // touch the queue table. A crash loses only pushes younger than this, none of them answered yet.
  const writeAfterMs = syncDeadlineMs / 2;
  // Attempts started and not finished, counted rather than kept in a set: a set of their promises needed
  // two more promises and closures per push (finally, catch), alive as long as the push.
  let running = 0;
  const whenIdle: Array<() => void> = [];
  const finished = () => {
    running -= 1;
    if (running === 0) for (const resolve of whenIdle.splice(0)) resolve();
  };
  // Publishes between arrival and the start of their attempt; with `running`, what counts against maxInFlight.
  let arriving = 0;

  const lookup = async (input: PublishInput): Promise<Lookup> => {
    let reg: Registration | undefined;
    try {
      reg = fpush.applies(input.node, input.options)
        ? await fpush.resolve(input.fromDomain, input.node, input.options)
        : await cache.get(input.node);
    } catch (err) {
      log.warn(
        { err: { message: (err as Error).message, code: (err as { code?: string }).code } },
        "registration lookup failed; answering wait",
      );
      return { outcome: "unavailable" };
    }
    // A server may only push to its own users' devices; to anyone else the node does not exist.
    if (!reg || (reg.ownerJid !== "" && domainOf(reg.ownerJid) !== input.fromDomain)) return { outcome: "unknown-node" };
    const app = apps.get(reg.app);
    if (!app || !isActive(reg)) return { outcome: "unknown-node" };
    if (input.fromOperator === true) return { reg, app };
    if (reg.secretHash !== undefined) {
      const secret = input.options.get("secret");
      if (secret === undefined || !secretMatches(secret, reg.secretHash)) return { outcome: "not-authorized" };
    } else if (app.requireSecret) {
      return { outcome: "not-authorized" };
    }
    return { reg, app };
  };

  return {
    async drain() {
      if (running > 0) await new Promise<void>((resolve) => whenIdle.push(resolve));
    },

    async publish(input) {
      if (!config.domains.includes(input.fromDomain)) return "forbidden";
      if (running + arriving >= maxInFlight) return "overloaded";
      const started = clock.now();
      arriving += 1;
      let found: Lookup;
      try {
        found = await lookup(input);
      } finally {
        arriving -= 1;
      }
      if ("outcome" in found) return found.outcome;
      const { reg, app } = found;

      const notification = app.includeMessageContent ? input.notification : withoutContent(input.notification);
      const request: PushRequest = { pushId: randomUUID(), node: reg.node, app: app.id, notification, receivedAt: started };
      const expiresAt = new Date(started.getTime() + jobTtlSeconds * 1000);
      const job: QueuedJob = {
        node: reg.node,
        pushId: request.pushId,
        app: app.id,
        notification: request.notification,
        receivedAt: started,
        attempts: 1,
        nextAttemptAt: new Date(started.getTime() + holdMs),
        expiresAt,
      };

      const slot = rateLimiter.admit(reg.node, started.getTime());
      if (slot.delayMs > 0) {
        // Too soon after the last push to this node: keep this one (the newest) for when the window ends.
        const durable = await writes.putJob({ ...job, attempts: 0, nextAttemptAt: new Date(started.getTime() + slot.delayMs) });
        return durable ? "coalesced" : "unavailable";
      }

      const durable = writes.putJob(job, { writeAfterMs });
      running += 1;
      const attempt = dispatcher.dispatch(reg, app, request, 1, expiresAt).then(
        (result) => {
          finished();
          settler.settle(job, result, { persisted: false });
          return result;
        },
        (err: unknown): PushResult => {
          finished();
          log.error({ err, node: reg.node }, "dispatch failed; the write-ahead job will retry it");
          return { class: "retry", reason: "internal error" };
        },
      );

      const remaining = () => Math.max(0, syncDeadlineMs - (clock.now().getTime() - started.getTime()));
      const result = await withDeadline(attempt, remaining());
      const settled = result === undefined ? undefined : publishOutcomeOf(result);
      if (settled !== undefined) return settled;
      // Not delivered (yet): the answer is `result` only if the push is safe in the queue.
      const isDurable = await withDeadline(durable, Math.max(remaining(), 50));
      return isDurable === true ? "queued" : "unavailable";
    },
  };
}

/**
 * The notification without sender and body: for an app that never sends them (includeMessageContent
 * false), they are dropped before anything is stored (the durable job) or handed on.
 */
function withoutContent(n: Notification): Notification {
  const { lastMessageSender: _sender, lastMessageBody: _body, ...rest } = n;
  return rest;
}

/** The promise's value if it settles within ms, else undefined. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return settleWithin(p, ms, () => undefined);
}
