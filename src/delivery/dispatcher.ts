import type { AppConfig } from "../config/config-schema.js";
import type { ConfigError, Delivered, DeliveryOutcome, PushResult, Retry, TokenDead } from "../domain/delivery-outcome.js";
import type { PushRequest } from "../domain/notification.js";
import type { Registration } from "../domain/registration.js";
import { tokenFingerprint } from "../domain/secret.js";
import type { Clock } from "../ports/clock.js";
import type { PushProvider, ProviderKind } from "../ports/push-provider.js";
import type { RegistrationStore } from "../ports/registration-store.js";
import type { Metrics } from "../observability/metrics.js";
import type { Logger } from "../observability/logger.js";
import type { RegistrationCache } from "../registration/registration-cache.js";
import type { CircuitBreakers } from "./circuit-breaker.js";
import type { ConfirmFallback } from "./confirm-fallback.js";
import { planTargets, type PlannedTarget } from "./provider-strategy.js";
import { pushDataFor } from "./push-data.js";
import type { WriteBuffer } from "./write-buffer.js";
import { settleWithin } from "../shared/wait-at-most.js";

// One delivery attempt of one push: walk the app's provider chain over the device's addresses,
// audit every provider call, disable addresses the provider declares dead, and sum up.

export type ProviderLookup = (app: string, kind: ProviderKind) => PushProvider | undefined;

export interface DispatcherDeps {
  readonly providers: ProviderLookup;
  readonly breakers: CircuitBreakers;
  readonly writes: WriteBuffer;
  readonly store: RegistrationStore;
  readonly cache: RegistrationCache;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly providerTimeoutMs: number;
  /** strategy.confirmWithinSeconds: the checks that send an unconfirmed JPush push on down the chain. */
  readonly confirmations?: ConfirmFallback;
}

export interface Dispatcher {
  dispatch(reg: Registration, app: AppConfig, request: PushRequest, attempt: number, expiresAt: Date): Promise<PushResult>;
}

const CIRCUIT_OPEN: DeliveryOutcome = { class: "retry", reason: "circuit-open" };

export function createDispatcher(deps: DispatcherDeps): Dispatcher {
  const { providers, breakers, writes, store, cache, clock, metrics, log, providerTimeoutMs, confirmations } = deps;

  const attemptOne = async (
    reg: Registration,
    app: AppConfig,
    request: PushRequest,
    attempt: number,
    expiresAt: Date,
    target: PlannedTarget,
    note?: string,
  ): Promise<DeliveryOutcome> => {
    const provider = providers(app.id, target.provider);
    const started = performance.now();
    let outcome: DeliveryOutcome;
    if (!provider) {
      outcome = { class: "config_error", reason: `no ${target.provider} provider configured` };
    } else if (!breakers.allow(app.id, target.provider)) {
      outcome = CIRCUIT_OPEN;
    } else {
      // A controller whose timer is cleared when the provider answers: AbortSignal.timeout() would keep
      // a timer and a signal alive for the whole timeout after every push (thousands at full load).
      const controller = new AbortController();
      try {
        const sent = provider.send({
          pushId: request.pushId,
          node: reg.node,
          attempt,
          address: target.address,
          notification: request.notification,
          content: { title: app.alertTitle, body: app.alertBody, includeMessageContent: app.includeMessageContent },
          data: pushDataFor(reg),
          expiresAt,
          signal: controller.signal,
        });
        outcome = await settleWithin(sent, providerTimeoutMs, () => {
          controller.abort();
          return TIMED_OUT;
        });
      } catch (err) {
        // Providers resolve for every remote answer; a throw is our bug. Keep the push and say so.
        log.error({ err, provider: provider.name }, "provider adapter threw; treating the attempt as retryable");
        outcome = { class: "retry", reason: "adapter-error" };
      }
      breakers.record(app.id, target.provider, outcome);
    }
    const latencyMs = outcome === CIRCUIT_OPEN ? 0 : performance.now() - started;
    const reason = outcome.reason ?? note;
    // JPush's Report API will say whether this one reached the phone (receipt-poller.ts).
    const awaitsReceipt =
      target.provider === "jpush" &&
      outcome.class === "delivered" &&
      outcome.messageId !== undefined &&
      app.jpush?.receipts.enabled === true;
    writes.recordAttempt({
      pushId: request.pushId,
      node: reg.node,
      app: app.id,
      provider: target.provider,
      ...(target.address.environment !== undefined && target.provider !== "log" ? { environment: target.address.environment } : {}),
      outcome: outcome.class,
      ...(outcome.status !== undefined ? { status: outcome.status } : {}),
      ...(reason !== undefined ? { reason } : {}),
      ...(outcome.class === "delivered" && outcome.messageId !== undefined ? { messageId: outcome.messageId } : {}),
      attempt,
      latencyMs,
      createdAt: clock.now(),
      ...(awaitsReceipt ? { receipt: "pending" as const } : {}),
    });
    metrics.pushes.inc({ app: app.id, provider: target.provider, outcome: outcome.class });
    if (outcome !== CIRCUIT_OPEN && provider)
      metrics.providerLatencySeconds.observe({ app: app.id, provider: target.provider }, latencyMs / 1000);
    if (outcome.class === "token_dead" && target.provider !== "log") await disable(reg, app, target, outcome);
    return outcome;
  };

  const disable = async (reg: Registration, app: AppConfig, target: PlannedTarget, outcome: TokenDead) => {
    try {
      const res = await store.disableAddress({
        node: reg.node,
        provider: target.address.provider,
        reason: `${target.provider}: ${outcome.reason ?? outcome.status ?? "token dead"}`,
        at: clock.now(),
        ...(outcome.invalidatedAt !== undefined ? { unlessUpdatedAfter: outcome.invalidatedAt } : {}),
      });
      cache.invalidate(reg.node);
      if (res.changed) {
        metrics.registrationsDisabled.inc({ app: app.id, provider: target.provider });
        log.info(
          {
            node: reg.node,
            app: app.id,
            provider: target.provider,
            tokenFp: tokenFingerprint(target.address.token),
            reason: outcome.reason,
            registrationDisabled: res.registrationDisabled,
          },
          "provider reports the device token dead; address disabled",
        );
      }
    } catch (err) {
      // Not fatal: the next push will meet the same answer and try again.
      log.warn({ err: { message: (err as Error).message }, node: reg.node }, "could not disable a dead address");
    }
  };

  // A JPush acceptance is not an arrival: with strategy.confirmWithinSeconds, a push JPush does not
  // confirm in time goes once through the rest of the chain; a confirmed one is never sent again.
  const confirmOrFallBack = (
    reg: Registration,
    app: AppConfig,
    request: PushRequest,
    attempt: number,
    expiresAt: Date,
    target: PlannedTarget,
    outcome: Delivered,
    rest: readonly PlannedTarget[],
  ) => {
    const within = app.strategy.confirmWithinSeconds;
    if (!confirmations || within === undefined || target.provider !== "jpush" || outcome.messageId === undefined || rest.length === 0)
      return;
    confirmations.schedule({
      app: app.id,
      pushId: request.pushId,
      messageId: outcome.messageId,
      afterMs: within * 1000,
      fallback: async () => {
        if (clock.now() >= expiresAt) return;
        for (const t of rest) {
          const o = await attemptOne(reg, app, request, attempt, expiresAt, t, `jpush did not confirm within ${within}s`);
          if (o.class === "delivered") break;
        }
      },
    });
  };

  const walkTargets = async (
    reg: Registration,
    app: AppConfig,
    request: PushRequest,
    attempt: number,
    expiresAt: Date,
    targets: readonly PlannedTarget[],
  ): Promise<PushResult> => {
    const outcomes: DeliveryOutcome[] = [];
    if (app.strategy.mode === "all") {
      outcomes.push(...(await Promise.all(targets.map((t) => attemptOne(reg, app, request, attempt, expiresAt, t)))));
    } else {
      for (const [i, t] of targets.entries()) {
        const o = await attemptOne(reg, app, request, attempt, expiresAt, t);
        outcomes.push(o);
        if (o.class === "delivered") {
          confirmOrFallBack(reg, app, request, attempt, expiresAt, t, o, targets.slice(i + 1));
          break;
        }
      }
    }
    return summarise(outcomes);
  };

  return {
    dispatch(reg, app, request, attempt, expiresAt) {
      let targets: PlannedTarget[];
      try {
        targets = planTargets(reg, app.strategy);
      } catch (err) {
        return Promise.reject(err as Error);
      }
      if (targets.length === 0) return Promise.resolve(NO_LIVE_ADDRESS);
      // A single target (a device with one address, or a chain of one): its attempt's promise is the
      // push's, with no frame of ours suspended beside it for as long as the provider takes. Nothing
      // comes after it in the chain, so there is no confirmation to schedule.
      if (targets.length === 1) return attemptOne(reg, app, request, attempt, expiresAt, targets[0]!).then((o) => summarise([o]));
      return walkTargets(reg, app, request, attempt, expiresAt, targets);
    },
  };
}

const NO_LIVE_ADDRESS: PushResult = { class: "token_dead", reason: "no live address" };

const TIMED_OUT: DeliveryOutcome = { class: "retry", reason: "timeout", maybeDelivered: true };

function summarise(outcomes: readonly DeliveryOutcome[]): PushResult {
  if (outcomes.some((o) => o.class === "delivered")) return { class: "delivered" };
  const transient = outcomes.filter((o): o is Retry | ConfigError => o.class === "retry" || o.class === "config_error");
  if (transient.length > 0) {
    const retryAfterMs = Math.max(0, ...transient.map((o) => (o.class === "retry" ? (o.retryAfterMs ?? 0) : 0)));
    return {
      class: "retry",
      reason: transient.map((o) => o.reason ?? String(o.status ?? o.class)).join("; "),
      ...(retryAfterMs > 0 ? { retryAfterMs } : {}),
    };
  }
  if (outcomes.some((o) => o.class === "payload_error")) {
    return { class: "payload_error", reason: outcomes.map((o) => o.reason ?? o.class).join("; ") };
  }
  return { class: "token_dead", reason: outcomes.map((o) => o.reason ?? o.class).join("; ") };
}
