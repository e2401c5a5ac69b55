import { createHash } from "node:crypto";
import type { Config } from "../../config/config-schema.js";
import type { FpushResolver } from "../../delivery/fpush-registrations.js";
import { isWellFormedToken } from "../../domain/device-token.js";
import type { ApnsEnvironment } from "../../domain/registration.js";
import type { RegistrationCache } from "../../registration/registration-cache.js";
import type { RegistrationService } from "../../registration/registration-service.js";
import { fpushDialect } from "./fpush-dialect.js";

// fpush (Monal) has no registration step: the XEP-0357 node *is* the device's APNs token and the
// publish-option `pushModule` names the app and environment. We keep such devices as ordinary
// registrations under a node derived from the token, so the audit, the queue and the admin views never
// hold the token itself, and a dead token disables the registration like any other. The first publish
// registers the device through the registration service, as every other dialect does.

export function createFpushResolver({
  config,
  registrations,
  cache,
}: {
  config: Pick<Config, "apps" | "defaultApp">;
  registrations: RegistrationService;
  cache: RegistrationCache;
}): FpushResolver {
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
      return modules.size > 0 && isWellFormedToken("apns", node) && moduleFor(options) !== undefined;
    },
    async resolve(fromDomain, node, options) {
      const mod = moduleFor(options);
      if (!mod || !isWellFormedToken("apns", node)) return undefined;
      const token = node.toLowerCase();
      const key = `fp-${createHash("sha256").update(`${fromDomain}\u0000${mod.app}\u0000${mod.environment}\u0000${token}`).digest("base64url").slice(0, 27)}`;
      const known = await cache.get(key);
      if (known) return known;
      const result = await registrations.register({
        ownerJid: fromDomain,
        ownerIsServer: true,
        app: mod.app,
        deviceId: key,
        node: key,
        dialect: fpushDialect.name,
        provider: "apns",
        token,
        environment: mod.environment,
        withSecret: false,
      });
      // A refused one (the app does not deliver through APNs) is, for the publishing server, no such node.
      return result.ok ? result.registration : undefined;
    },
  };
}
