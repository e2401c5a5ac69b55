import { z } from "zod";

// The `jpush` section of an app (docs/providers.md "JPush"). Vendor-channel options go to JPush under
// their JPush REST v3 names, unchanged, so what an operator writes is what JPush receives; every vendor
// key and field is checked, so a typo is refused with its path instead of being silently ignored.

const positiveInt = z.coerce.number().int("must be a whole number").positive();
const bool = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);

/** The phone makers' channels JPush routes through (options.third_party_channel keys). */
export const jpushVendors = ["xiaomi", "huawei", "honor", "oppo", "vivo", "meizu", "fcm", "hmos", "asus", "nio"] as const;

/** JPush keeps an offline message at most this long (options.time_to_live). */
export const MAX_JPUSH_TIME_TO_LIVE_S = 864_000;
/** The Report API answers for pushes of the last 28 days. */
const MAX_RECEIPT_WINDOW_S = 28 * 86_400;

const DEFAULT_PUSH_URL = "https://api.jpush.cn";
const BEIJING_PUSH_HOST = "bjapi.push.jiguang.cn";
const DEFAULT_REPORT_URL = "https://report.jpush.cn/v3";
const BEIJING_REPORT_URL = "https://bjapi.push.jiguang.cn/v3/report";

const vendorChannelSchema = z.strictObject({
  // Which channel goes first: JPush's own long connection or the vendor's system channel.
  distribution: z.enum(["jpush", "ospush", "secondary_push", "first_ospush"]).optional(),
  distribution_fcm: z.enum(["jpush", "fcm", "pns", "secondary_fcm_push"]).optional(),
  distribution_customize: z.enum(["first_ospush", "secondary_push"]).optional(),
  // A notification channel the app creates on the phone (Xiaomi, OPPO, Huawei, Honor).
  channel_id: z.string().min(1).max(200).optional(),
  // vivo: 0 operations/marketing, 1 system (IM is a system category).
  classification: z.union([z.literal(0), z.literal(1)]).optional(),
  // Message category the vendor reviews (Huawei, vivo, OPPO), e.g. IM.
  category: z
    .string()
    .regex(/^[A-Z_]{1,40}$/, "must be a vendor category in capitals such as IM")
    .optional(),
  // Huawei / Honor: LOW marketing, NORMAL service and communication, HIGH needs the vendor's approval.
  importance: z.enum(["LOW", "NORMAL", "HIGH"]).optional(),
  urgency: z.enum(["HIGH", "NORMAL"]).optional(),
  // OPPO: 1 notification bar, 2 bar + lock screen, 16 bar + lock screen + banner + sound.
  notify_level: z.union([z.literal(1), z.literal(2), z.literal(16)]).optional(),
  // vivo: 0 production, 1 test push. Huawei: 0 production, 1 test.
  push_mode: z.union([z.literal(0), z.literal(1)]).optional(),
  target_user_type: z.union([z.literal(0), z.literal(1)]).optional(),
  // Skip JPush's own per-vendor quota accounting for this push.
  skip_quota: z.boolean().optional(),
});
export type JpushVendorChannel = z.infer<typeof vendorChannelSchema>;

const thirdPartyChannelSchema = z.partialRecord(z.enum(jpushVendors), vendorChannelSchema);
export type JpushThirdPartyChannel = z.infer<typeof thirdPartyChannelSchema>;

/**
 * What a chat push needs from each vendor, where the vendor lets the server say it without the app's own
 * setup: Huawei and Honor "service and communication" importance, vivo system classification with the IM
 * category. Xiaomi and OPPO need a channel id the app creates and the vendor approves, so they have no default.
 */
export const DEFAULT_THIRD_PARTY_CHANNEL: JpushThirdPartyChannel = {
  huawei: { importance: "NORMAL", category: "IM" },
  honor: { importance: "NORMAL" },
  vivo: { classification: 1, category: "IM" },
};

const receiptsSchema = z.strictObject({
  // Off by default: every poll costs Report API quota.
  enabled: bool.default(false),
  // How long after a push JPush is asked whether it arrived; unconfirmed after that.
  windowSeconds: positiveInt.max(MAX_RECEIPT_WINDOW_S).default(600),
  // How often the poller asks (one batched call of up to 100 messages per round and app).
  pollSeconds: positiveInt.max(3600).default(10),
});

export const jpushSchema = z
  .strictObject({
    appKey: z.string().regex(/^[a-zA-Z0-9]{24}$/, "must be the 24-character AppKey from the JPush console"),
    masterSecret: z.string().regex(/^[a-zA-Z0-9]{24}$/, "must be the 24-character Master Secret from the JPush console"),
    // The data centre: https://api.jpush.cn (default) or https://bjapi.push.jiguang.cn (Beijing).
    baseUrl: z.url({ message: "must be a URL such as https://api.jpush.cn" }).default(DEFAULT_PUSH_URL),
    // The Report API; defaults to the report host of the data centre baseUrl names.
    reportBaseUrl: z.url({ message: "must be a URL such as https://report.jpush.cn/v3" }).optional(),
    timeoutMs: positiveInt.default(10_000),
    thirdPartyChannel: thirdPartyChannelSchema.default(DEFAULT_THIRD_PARTY_CHANNEL),
    // options.classification, across vendors: 0 marketing, 1 system (chat).
    classification: z.union([z.literal(0), z.literal(1)]).default(1),
    // options.time_to_live cap; a push never lives longer than its job anyway.
    timeToLiveSeconds: z.coerce.number().int("must be a whole number").min(0).max(MAX_JPUSH_TIME_TO_LIVE_S).optional(),
    receipts: receiptsSchema.prefault({}),
  })
  .transform((j) => ({
    ...j,
    reportBaseUrl: j.reportBaseUrl ?? (new URL(j.baseUrl).host === BEIJING_PUSH_HOST ? BEIJING_REPORT_URL : DEFAULT_REPORT_URL),
  }));

/** Cross-setting checks of one app's JPush use (reported with every other problem, with their path). */
export function crossCheckJpush(app: Record<string, unknown>, index: number): { path: (string | number)[]; message: string }[] {
  const strategy = app.strategy as { providers?: unknown; mode?: unknown; confirmWithinSeconds?: unknown } | undefined;
  if (strategy?.confirmWithinSeconds === undefined) return [];
  const path = ["apps", index, "strategy", "confirmWithinSeconds"];
  // mode all already sends through every provider: there is nothing to fall back to.
  if (strategy.mode === "all") return [{ path, message: "works with mode: fallback only" }];
  const jpush = app.jpush as { receipts?: { enabled?: unknown; windowSeconds?: unknown } } | undefined;
  const enabled = jpush?.receipts?.enabled;
  if (enabled !== true && enabled !== "true" && enabled !== "1") {
    return [{ path, message: "needs jpush.receipts.enabled: true (the fallback waits for JPush's delivery receipt)" }];
  }
  const providers = Array.isArray(strategy.providers) ? (strategy.providers as unknown[]) : [];
  const at = providers.indexOf("jpush");
  if (at < 0 || at === providers.length - 1)
    return [{ path, message: "needs a provider after jpush in strategy.providers to fall back to" }];
  const window = Number(jpush?.receipts?.windowSeconds ?? 600);
  if (Number(strategy.confirmWithinSeconds) >= window) return [{ path, message: "must be shorter than jpush.receipts.windowSeconds" }];
  return [];
}
