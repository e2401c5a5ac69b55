import { createHash } from "node:crypto";
import type { Config } from "../config/config-schema.js";
import type { ApnsEnvironment, Registration } from "../domain/registration.js";
import type { Clock } from "../ports/clock.js";
import type { RegistrationStore } from "../ports/registration-store.js";
import type { RegistrationCache } from "../registration/registration-cache.js";

// fpush (Monal) has no registration step: the XEP-0357 node *is* the device's APNs token and the
// publish-option `pushModule` names the app and environment (anchors.md). We keep such devices as
// ordinary registrations under a node derived from the token, so the audit, the queue and the admin
// views never hold the token itself, and a dead token disables the registration like any other.

export interface FpushResolver {
  /** Whether this publish is an fpush one (an fpush module matches and the node looks like a token). */
  applies(node: string, options: ReadonlyMap<string, string>): boolean;
  /** The registration behind an fpush node, created on its first publish; undefined when not fpush. */
  resolve(fromDomain: string, node: string, options: ReadonlyMap<string, string>): Promise<Registration | undefined>;
}

const APNS_TOKEN = /^[0-9a-fA-F]{64,200}$/;

export function createFpushResolver({ config, store, cache, clock }: { config: Pick<Config, "apps" | "defaultApp">; store: RegistrationStore; cache: RegistrationCache; clock: Clock }): FpushResolver {
  const modules = new Map<string, { app: string; environment: ApnsEnvironment }>();
  for (const app of config.apps) {
    for (const [name, environment] of Object.entries(app.fpush?.modules ?? {})) modules.set(name, { app: app.id, environment });
  }
  const defaultApp = config.apps.find((a) => a.id === config.defaultApp);
  const moduleFor = (options: ReadonlyMap<string, string>) => {
    const name = options.get("pushModule");
    if (name !== undefined) return modules.get(name);
    // fpush: "if pushModule is absent, the default module is used".
    return defaultApp?.fpush && defaultApp.apns ? { app: defaultApp.id, environment: defaultApp.apns.defaultEnvironment } : undefined;
  };

  return {
    applies(node, options) {
      return modules.size > 0 && APNS_TOKEN.test(node) && moduleFor(options) !== undefined;
    },
    async resolve(fromDomain, node, options) {
      const mod = moduleFor(options);
      if (!mod || !APNS_TOKEN.test(node)) return undefined;
      const token = node.toLowerCase();
      const key = `fp-${createHash("sha256").update(`${fromDomain}\u0000${mod.app}\u0000${mod.environment}\u0000${token}`).digest("base64url").slice(0, 27)}`;
      const known = await cache.get(key);
      if (known) return known;
      const { registration } = await store.register(
        {
          node: key,
          app: mod.app,
          ownerJid: fromDomain,
          deviceId: key,
          channel: "",
          dialect: "fpush",
          address: { provider: "apns", token, environment: mod.environment },
        },
        clock.now(),
      );
      cache.invalidate(key);
      return registration;
    },
  };
}
