import type { Config } from "../config/config-schema.js";
import type { Logger } from "../observability/logger.js";
import type { PushProvider, ProviderKind } from "../ports/push-provider.js";
import { createLogProvider } from "./log-provider.js";
import { describeProxy } from "./outbound-agents.js";

// Builds one provider instance per app and provider kind from the config (never shared between apps:
// each has its own credentials and connections, gorush #881 shows what a shared mutable client costs).

export interface ProviderRegistry {
  lookup(app: string, kind: ProviderKind): PushProvider | undefined;
  all(): readonly PushProvider[];
  close(): Promise<void>;
}

/** What every provider of every app shares about the way out: the outbound proxy (undefined: direct). */
export interface Outbound {
  readonly httpsProxy?: Config["httpsProxy"];
}

export type ProviderFactory = (app: Config["apps"][number], log: Logger, outbound?: Outbound) => Partial<Record<Exclude<ProviderKind, "log">, PushProvider>>;

export function createProviderRegistry({
  config,
  log,
  factories = [],
}: {
  config: Pick<Config, "apps"> & Partial<Pick<Config, "httpsProxy">>;
  log: Logger;
  factories?: readonly ProviderFactory[];
}): ProviderRegistry {
  const outbound: Outbound = { httpsProxy: config.httpsProxy };
  if (outbound.httpsProxy !== undefined) log.info({ proxy: describeProxy(outbound.httpsProxy) }, "provider connections go through the outbound proxy");
  const byApp = new Map<string, Map<ProviderKind, PushProvider>>();
  for (const app of config.apps) {
    const providers = new Map<ProviderKind, PushProvider>();
    providers.set("log", createLogProvider({ app: app.id, log: log.child({ provider: "log" }) }));
    for (const factory of factories) {
      for (const [kind, provider] of Object.entries(factory(app, log, outbound))) providers.set(kind as ProviderKind, provider);
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
