import type { Config } from "../../config/config-schema.js";
import { createConfirmFallback, type ConfirmFallback } from "../../delivery/confirm-fallback.js";
import { createReceiptPoller, type ReceiptApp, type ReceiptPoller } from "../../delivery/receipt-poller.js";
import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import type { Clock } from "../../ports/clock.js";
import type { ReceiptStore } from "../../ports/delivery-receipts.js";
import type { RegistrationStore } from "../../ports/registration-store.js";
import { createJpushReportClient } from "./jpush-report-client.js";

// JPush delivery receipts for the apps that enable them (jpush.receipts.enabled): a Report API client
// per app, the poller that writes receipts on the audit, and the confirm fallback that uses them.

export interface JpushReceipts {
  readonly poller: ReceiptPoller;
  readonly confirmations: ConfirmFallback;
  start(): void;
  stop(): Promise<void>;
}

export interface JpushReceiptsDeps {
  readonly config: Config;
  readonly store: ReceiptStore;
  /** Where the final verdict finds the device's JPush registration id. */
  readonly registrations: RegistrationStore;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
}

export function createJpushReceipts({ config, store, registrations, clock, metrics, log }: JpushReceiptsDeps): JpushReceipts {
  const clients: Array<{ close(): void }> = [];
  const apps: ReceiptApp[] = config.apps.flatMap((a) => {
    if (!a.jpush?.receipts.enabled) return [];
    const lookup = createJpushReportClient({ config: a.jpush, proxy: config.httpsProxy });
    clients.push(lookup);
    return [{ app: a.id, lookup, windowMs: a.jpush.receipts.windowSeconds * 1000, pollMs: a.jpush.receipts.pollSeconds * 1000 }];
  });
  const poller = createReceiptPoller({
    apps,
    store,
    clock,
    log,
    onReceipts: (app, result, n) => metrics.jpushReceipts.inc({ app, result }, n),
    registrationIdOf: async (node) => (await registrations.findByNode(node))?.addresses.find((a) => a.provider === "jpush")?.token,
  });
  const confirmations = createConfirmFallback({
    confirm: (app, pushId, messageId) => poller.confirm(app, pushId, messageId),
    log,
    onResult: (app, result) => metrics.confirmFallbacks.inc({ app, result }),
  });
  return {
    poller,
    confirmations,
    start: () => poller.start(),
    async stop() {
      await confirmations.stop();
      await poller.stop();
      for (const c of clients) c.close();
    },
  };
}
