import type { ProviderFactory } from "./provider-registry.js";
import { createApnsProvider } from "./apns-provider.js";

export const apnsFactory: ProviderFactory = (app, log, { httpsProxy } = {}) =>
  app.apns ? { apns: createApnsProvider({ app: app.id, config: app.apns, log: log.child({ provider: "apns", app: app.id }), proxy: httpsProxy }) } : {};
