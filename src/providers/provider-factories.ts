import { createApnsProvider } from "./apns/apns-provider.js";
import { createFcmProvider } from "./fcm/fcm-provider.js";
import { createJpushProvider } from "./jpush/jpush-provider.js";
import type { ProviderFactory } from "./provider-registry.js";

// The one table of provider factories: each builds its provider for an app that configures it, with
// the app's own credentials and connections (never shared between apps, see provider-registry), the
// shared outbound proxy and the composition root's clock. A new provider adds one row here.

export const apnsFactory: ProviderFactory = (app, log, { httpsProxy, clock } = {}) =>
  app.apns
    ? {
        apns: createApnsProvider({
          app: app.id,
          config: app.apns,
          log: log.child({ provider: "apns", app: app.id }),
          proxy: httpsProxy,
          clock,
        }),
      }
    : {};

export const jpushFactory: ProviderFactory = (app, log, { httpsProxy, clock } = {}) =>
  app.jpush
    ? {
        jpush: createJpushProvider({
          app: app.id,
          config: app.jpush,
          // A JPush registration without an environment follows the app's APNs default, not JPush's.
          ...(app.apns !== undefined ? { defaultEnvironment: app.apns.defaultEnvironment } : {}),
          log: log.child({ provider: "jpush", app: app.id }),
          proxy: httpsProxy,
          clock,
        }),
      }
    : {};

export const fcmFactory: ProviderFactory = (app, log, { httpsProxy, clock } = {}) =>
  app.fcm
    ? {
        fcm: createFcmProvider({
          app: app.id,
          config: app.fcm,
          log: log.child({ provider: "fcm", app: app.id }),
          proxy: httpsProxy,
          clock,
        }),
      }
    : {};

/** Every real provider, in the order the registry builds them; the log (dry-run) provider is always there. */
export const providerFactories: readonly ProviderFactory[] = [apnsFactory, jpushFactory, fcmFactory];
