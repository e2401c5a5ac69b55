import { z } from "zod";
import type { JpushConfig, OutboundProxy } from "../../config/config-schema.js";
import type { DeviceVerdict, ReceiptAnswer, ReceiptLookup } from "../../ports/delivery-receipts.js";
import { createHttpClient, headerSeconds, type HttpAnswer } from "../http-transport.js";
import { parseKeepingMsgIds } from "./jpush-provider.js";

// JPush Report API v3, `GET /received/detail?msg_ids=…` (docs/providers.md "Delivery receipts"): per
// message, counters of how many devices received it on each channel. We push one registration id per
// message, so a counter above 0 means that device got it, and the counter names the channel.
// `POST /status/message` gives the per-device verdict once a push's window is over.

/** The Report API takes at most 100 msg_ids per call. */
export const MAX_REPORT_IDS = 100;

// The counters that mean "arrived on the phone", and the channel each one stands for.
const RECEIVED_COUNTERS: ReadonlyArray<readonly [string, string]> = [
  ["jpush_received", "jpush"],
  ["android_pns_received", "vendor"],
  ["ios_apns_received", "apns"],
  ["ios_msg_received", "jpush"],
  ["hmos_hmpns_received", "hmos"],
];

// /status/message per registration id: 0 delivered, 1 not delivered, 2 not this app's, 3 not a target
// of this message, 4 system error.
const VERDICTS: ReadonlyMap<number, "received" | "not_received"> = new Map([
  [0, "received"],
  [1, "not_received"],
]);
const statusSchema = z.record(z.string(), z.looseObject({ status: z.coerce.number().int() }));

const count = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number), z.null()]).optional();
const detailSchema = z.array(z.looseObject({ msg_id: z.string() }));

export function createJpushReportClient({
  config,
  proxy,
}: {
  config: JpushConfig;
  proxy: OutboundProxy | undefined;
}): ReceiptLookup & { close(): void } {
  const http = createHttpClient({
    proxy,
    baseUrl: config.reportBaseUrl,
    basicAuth: { username: config.appKey, password: config.masterSecret },
    timeoutMs: config.timeoutMs,
  });
  // One Report API call: transport errors and non-200 answers become a reason, the rate-limit headers a wait.
  const call = async (request: () => Promise<HttpAnswer>) => {
    let res;
    try {
      res = await request();
    } catch (err) {
      return { ok: false as const, reason: (err as Error).message };
    }
    const waitMs = rateLimitWaitMs(res.status, res.headers["x-rate-limit-remaining"], res.headers["x-rate-limit-reset"]);
    const wait = waitMs !== undefined ? { waitMs } : {};
    if (res.status !== 200) return { ok: false as const, reason: `Report API HTTP ${res.status}`, ...wait };
    return { ok: true as const, data: res.body, wait };
  };

  return {
    close: () => void http.close(),
    async lookup(messageIds): Promise<ReceiptAnswer> {
      if (messageIds.length === 0) return { ok: true, received: new Map() };
      if (messageIds.length > MAX_REPORT_IDS) throw new Error(`at most ${MAX_REPORT_IDS} msg_ids per Report API call`);
      const ids = messageIds.map(encodeURIComponent).join(",");
      const res = await call(() => http.request({ method: "GET", url: `/received/detail?msg_ids=${ids}` }));
      if (!res.ok) return res;
      const wait = res.wait;
      const rows = detailSchema.safeParse(parseKeepingMsgIds(res.data));
      if (!rows.success) return { ok: false, reason: "Report API answer unreadable", ...wait };
      const received = new Map<string, string>();
      for (const row of rows.data) {
        const channel = RECEIVED_COUNTERS.find(([k]) => (count.safeParse(row[k]).data ?? 0) > 0)?.[1];
        if (channel !== undefined) received.set(row.msg_id, channel);
      }
      return { ok: true, received, ...wait };
    },

    async verdict(messageId, registrationId): Promise<DeviceVerdict> {
      // msg_id goes out as the exact digits (a JS number above 2^53 would change it).
      if (!/^\d+$/.test(messageId)) return { ok: true, state: "unknown" };
      const body = `{"msg_id":${messageId},"registration_ids":${JSON.stringify([registrationId])}}`;
      const res = await call(() =>
        http.request({ method: "POST", url: "/status/message", body, headers: { "content-type": "application/json" } }),
      );
      if (!res.ok) return res;
      const wait = res.wait;
      const parsed = statusSchema.safeParse(parseKeepingMsgIds(res.data));
      const status = parsed.success ? parsed.data[registrationId]?.status : undefined;
      return { ok: true, state: (status !== undefined ? VERDICTS.get(status) : undefined) ?? "unknown", ...wait };
    },
  };
}

/**
 * JPush's rate-limit headers (docs/providers.md, Quotas): every answer carries the calls left in the window and
 * the seconds until it resets. Out of calls, or refused with 429, we wait for the reset.
 */
export function rateLimitWaitMs(status: number, remaining: unknown, reset: unknown): number | undefined {
  const resetS = headerSeconds(reset);
  const left = Number(remaining);
  if (status === 429 || (remaining !== undefined && Number.isFinite(left) && left <= 0)) return (resetS ?? 60) * 1000;
  return undefined;
}
