import type { Config } from "../config/config-schema.js";
import type { Logger } from "../observability/logger.js";
import type { Clock } from "../ports/clock.js";
import type { PushProvider, ProviderKind } from "../ports/push-provider.js";
import { createLogProvider } from "./log/log-provider.js";
import { describeProxy } from "./outbound-agents.js";

// Builds one provider instance per app and provider kind from the config (never shared between apps:
// each has its own credentials and connections, gorush #881 shows what a shared mutable client costs).
//
// Every provider has the same shape, in a folder named after the provider (like dialects/):
//   <provider>-provider.ts  the transport: connections, one request per attempt, the answer read into
//                           an outcome (apns-provider, jpush-provider, fcm-provider);
//   <provider>-outcomes.ts  the outcome table: the provider's documented answers → DeliveryOutcome, pure;
//   <provider>-payload.ts   the payload builder: one attempt → the provider's request body, pure.
// Helpers of one provider live in its folder (jpush/jpush-cid-pool, fcm/fcm-auth); what several share
// stays here, without a prefix:
// provider-factories (the table of factories), payload-text (shown text, trimming, short hashes),
// proven-setup (when a token verdict is believed), http-transport and outbound-agents (the way out).

export interface ProviderRegistry {
  lookup(app: string, kind: ProviderKind): PushProvider | undefined;
  all(): readonly PushProvider[];
  close(): Promise<void>;
}

/** What every provider of every app shares: the outbound proxy (undefined: direct) and the clock (undefined: systemClock). */
export interface SharedProviderDeps {
  readonly httpsProxy?: Config["httpsProxy"];
  readonly clock?: Clock;
}

export type ProviderFactory = (
  app: Config["apps"][number],
  log: Logger,
  shared?: SharedProviderDeps,
) => Partial<Record<Exclude<ProviderKind, "log">, PushProvider>>;

export function createProviderRegistry({
  config,
  log,
  factories = [],
  clock,
}: {
  config: Pick<Config, "apps"> & Partial<Pick<Config, "httpsProxy">>;
  log: Logger;
  /** provider-factories' table in production; tests pass scripted ones. */
  factories?: readonly ProviderFactory[];
  clock?: Clock;
}): ProviderRegistry {
  const shared: SharedProviderDeps = { httpsProxy: config.httpsProxy, ...(clock !== undefined ? { clock } : {}) };
  if (shared.httpsProxy !== undefined)
    log.info({ proxy: describeProxy(shared.httpsProxy) }, "provider connections go through the outbound proxy");
  const byApp = new Map<string, Map<ProviderKind, PushProvider>>();
  for (const app of config.apps) {
    const providers = new Map<ProviderKind, PushProvider>();
    providers.set("log", createLogProvider({ app: app.id, log: log.child({ provider: "log" }) }));
    for (const factory of factories) {
      for (const [kind, provider] of Object.entries(factory(app, log, shared))) providers.set(kind as ProviderKind, provider);
    }
    byApp.set(app.id, providers);
  }
  const all = [...byApp.values()].flatMap((m) => [...m.values()]);
  return {
    lookup: (app, kind) => byApp.get(app)?.get(kind),
    all: () => all,
    async close() {
      await Promise.allSettled(all.map((p) => p.close()));
    },
  };
}
