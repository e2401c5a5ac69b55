import { createFcmProvider } from "./fcm-provider.js";
import { createJpushProvider } from "./jpush-provider.js";
import type { ProviderFactory } from "./provider-registry.js";

// The two HTTP providers for the registry: one instance per app that configures them (provider-registry:
// never shared between apps, each has its own credentials and keep-alive agents).

export const jpushFactory: ProviderFactory = (app, log, { httpsProxy } = {}) =>
  app.jpush
    ? {
        jpush: createJpushProvider({
          app: app.id,
          config: app.jpush,
          // A JPush registration without an environment follows the app's APNs default, not JPush's.
          ...(app.apns !== undefined ? { defaultEnvironment: app.apns.defaultEnvironment } : {}),
          log: log.child({ provider: "jpush", app: app.id }),
          proxy: httpsProxy,
        }),
      }
    : {};

export const fcmFactory: ProviderFactory = (app, log, { httpsProxy } = {}) =>
  app.fcm ? { fcm: createFcmProvider({ app: app.id, config: app.fcm, log: log.child({ provider: "fcm", app: app.id }), proxy: httpsProxy }) } : {};
