import { z } from "zod";
import type { JpushConfig } from "../../config/config-schema.js";
import type { DeliveryOutcome } from "../../domain/delivery-outcome.js";
import { systemClock } from "../../ports/clock.js";
import type { PushAttempt, PushProvider } from "../../ports/push-provider.js";
import { createHttpClient, headerSeconds, parseJsonBody, scrubToken, transportOutcome } from "../http-transport.js";
import { createCidPool } from "./jpush-cid-pool.js";
import { classifyJpush, isMalformedRegistrationId } from "./jpush-outcomes.js";
import { buildJpushPush, type JpushPushSettings } from "./jpush-payload.js";
import type { ApnsEnvironment } from "../../domain/registration.js";
import type { ProviderDeps } from "../provider-deps.js";

// JPush REST v3 with a hand-rolled client (http-transport; docs/provider-internals.md "Clients"): the official SDKs sit on the
// deprecated `request`, never retry, and jpush-async resolves on the first data chunk and never aborts.
// One registration_id per request (so 1011 names that device), apns_production always explicit, a cid
// from JPush's pool reused by every attempt of a push (so a retry after a timeout cannot push twice),
// msg_id kept as a string.

const PUSH_PATH = "/v3/push";
const JSON_BODY = { "content-type": "application/json" } as const;

// The response body as JPush documents it (docs/provider-internals.md "JPush"); everything else in it is ignored.
const responseSchema = z.object({
  sendno: z.union([z.string(), z.number()]).optional(),
  msg_id: z.string().optional(),
  error: z
    .object({
      code: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
      message: z.string().optional(),
    })
    .optional(),
});
type JpushResponse = z.infer<typeof responseSchema>;
const cidListSchema = z.object({ cidlist: z.array(z.string().min(1)).min(1) });

export interface JpushProviderDeps extends ProviderDeps<JpushConfig> {
  /** The app's APNs default environment, for registrations that name none. */
  readonly defaultEnvironment?: ApnsEnvironment;
}

export function createJpushProvider({ app, config, defaultEnvironment, log, proxy, clock = systemClock }: JpushProviderDeps): PushProvider {
  const now = () => clock.now().getTime();
  const http = createHttpClient({
    baseUrl: config.baseUrl,
    basicAuth: { username: config.appKey, password: config.masterSecret },
    timeoutMs: config.timeoutMs,
    proxy,
  });
  let closed = false;
  const settings: JpushPushSettings = {
    ...(defaultEnvironment !== undefined ? { defaultEnvironment } : {}),
    classification: config.classification,
    thirdPartyChannel: config.thirdPartyChannel,
    ...(config.timeToLiveSeconds !== undefined ? { timeToLiveSeconds: config.timeToLiveSeconds } : {}),
  };
  const cids = createCidPool({
    fetch: async (count) => {
      const res = await http.request({ method: "GET", url: `${PUSH_PATH}/cid?count=${count}&type=push` });
      const list = res.status === 200 ? cidListSchema.safeParse(parseJsonBody(res.body)) : undefined;
      if (!list?.success) throw new Error(`cid pool: HTTP ${res.status}`);
      return list.data.cidlist;
    },
    now,
  });

  // Only the text outlives this call: the object graph is garbage before the request goes out.
  const pushBody = (attempt: PushAttempt, cid: string | undefined): string =>
    JSON.stringify(buildJpushPush(attempt, cid === undefined ? settings : { ...settings, cid }, now()));

  const send = async (attempt: PushAttempt): Promise<DeliveryOutcome> => {
    if (closed) return { class: "retry", reason: "provider closed" };
    // The caller already gave up: nothing left, nothing could have been delivered.
    if (attempt.signal.aborted) return { class: "retry", reason: "aborted before sending" };
    const body = pushBody(attempt, await cids.cidFor(attempt.pushId));
    let res;
    try {
      res = await http.request({ method: "POST", url: PUSH_PATH, body, headers: JSON_BODY, signal: attempt.signal });
    } catch (err) {
      return transportOutcome(err);
    }
    // A 200 (nearly every answer) is classified by its status alone: its body is only searched for msg_id.
    const parsed = res.status === 200 ? undefined : parseJpushResponse(res.body);
    const message = scrubToken(parsed?.error?.message, attempt.address.token);
    const outcome = classifyJpush({
      httpStatus: res.status,
      ...(parsed?.error?.code !== undefined ? { code: parsed.error.code } : {}),
      ...(message !== undefined ? { message } : {}),
      ...(parsed !== undefined ? withReset(headerSeconds(res.headers["x-rate-limit-reset"])) : {}),
      registrationIdMalformed: parsed !== undefined && isMalformedRegistrationId(attempt.address.token),
    });
    // Pushed, or refused for good: a later attempt cannot duplicate it, so its cid need not be kept. Not
    // when the caller gave up first (its deadline): it takes the attempt as maybe delivered and retries.
    if (outcome.class !== "retry" && !attempt.signal.aborted) cids.release(attempt.pushId);
    if (outcome.class === "delivered") {
      const messageId = msgIdOf(res.body);
      return messageId !== undefined ? { ...outcome, messageId } : outcome;
    }
    report(outcome, attempt, message);
    return outcome;
  };

  // A config or payload error needs a human; JPush's own text helps, the token never appears.
  const report = (outcome: DeliveryOutcome, attempt: PushAttempt, jpushMessage: string | undefined) => {
    const fields = { app, node: attempt.node, pushId: attempt.pushId, status: outcome.status, reason: outcome.reason, jpushMessage };
    if (outcome.class === "config_error" || outcome.class === "payload_error") log.error(fields, "JPush refused the push");
    else log.debug(fields, "JPush did not deliver the push");
  };

  return {
    kind: "jpush",
    name: `jpush:${app}`,
    send,
    async close() {
      closed = true;
      await http.close();
    },
  };
}

/**
 * Parses a JPush answer that is not a 200, for its error code and message (a 200's msg_id is read by
 * msgIdOf), checked against the documented shape; msg_id, if present, is read as its exact digits
 * (parseKeepingMsgIds). Anything unreadable (a gateway's HTML page) parses as {}.
 */
export function parseJpushResponse(data: unknown): JpushResponse {
  const parsed = responseSchema.safeParse(parseKeepingMsgIds(data));
  return parsed.success ? parsed.data : {};
}

/** JSON text from JPush with every msg_id as a string of its exact digits; undefined when not JSON. */
export function parseKeepingMsgIds(data: unknown): unknown {
  if (typeof data !== "string" || data.trim() === "") return undefined;
  try {
    return JSON.parse(data.replace(/"msg_id"\s*:\s*(\d+)/g, '"msg_id":"$1"')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * msg_id's exact digits from an answer's raw text, quoted or not (ids above 2^53 come as bare numbers,
 * docs/provider-internals.md "JPush"), without parsing the rest.
 */
export function msgIdOf(body: string): string | undefined {
  return MSG_ID.exec(body)?.[1];
}
const MSG_ID = /"msg_id"\s*:\s*"?(\d+)/;

function withReset(seconds: number | undefined): { rateLimitResetSeconds?: number } {
  return seconds !== undefined ? { rateLimitResetSeconds: seconds } : {};
}
