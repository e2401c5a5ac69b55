import { z } from "zod";
import type { FcmConfig } from "../../config/config-schema.js";
import type { DeliveryOutcome } from "../../domain/delivery-outcome.js";
import { systemClock } from "../../ports/clock.js";
import type { PushAttempt, PushProvider } from "../../ports/push-provider.js";
import { createAdcFcmAuth } from "./fcm-adc-auth.js";
import { createFcmAuth, type FcmAuth } from "./fcm-auth.js";
import { buildFcmMessage, type FcmMessage } from "./fcm-payload.js";
import { classifyFcm, isInvalidTokenVerdict, isStaleAccessToken, type FcmAnswer } from "./fcm-outcomes.js";
import { createProvenSetup } from "../proven-setup.js";
import { createHttpClient, headerSeconds, parseJsonBody, scrubToken, transportOutcome } from "../http-transport.js";
import type { ProviderDeps } from "../provider-deps.js";

// FCM HTTP v1, hand-rolled (docs/provider-internals.md "Clients", "FCM"): firebase-admin hard-codes the host (no fakes) and v14
// needs Node ≥ 22. The message itself is fcm-payload's; this file sends it and reads the answer.

const errorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z.array(z.object({ "@type": z.string().optional(), errorCode: z.string().optional() })).optional(),
  }),
});
const successSchema = z.object({ name: z.string() });

export function createFcmProvider({ app, config, log, proxy, clock = systemClock }: ProviderDeps<FcmConfig>): PushProvider {
  const now = () => clock.now().getTime();
  const http = createHttpClient({ timeoutMs: config.timeoutMs, proxy });
  const { auth: credentials, timeoutMs } = config;
  const auth: FcmAuth =
    credentials.kind === "application-default"
      ? createAdcFcmAuth({ agentFor: http.agentFor, timeoutMs, projectId: config.projectId })
      : createFcmAuth({
          clientEmail: credentials.clientEmail,
          privateKey: credentials.privateKey,
          tokenUrl: credentials.tokenUrl,
          http,
          now,
        });
  const sendUrl = `${config.baseUrl.replace(/\/+$/, "")}/v1/projects/${encodeURIComponent(config.projectId)}/messages:send`;
  let closed = false;
  // A message we build wrong can draw the same "not a valid registration token" as a dead token: blamed on
  // our message until this app's messages have been delivered.
  const setup = createProvenSetup<string>({
    clock,
    rule: {
      doubtful: isInvalidTokenVerdict,
      blame: "payload_error",
      hint: () => "no FCM push has succeeded yet: not disabling the device",
    },
  });

  /** One POST; `staleToken` when FCM refused our access token and a fresh one may help. */
  const post = async (message: FcmMessage, signal: AbortSignal): Promise<{ outcome: DeliveryOutcome; staleToken?: string }> => {
    const token = await auth.accessToken(signal);
    if (!token.ok) return { outcome: token.outcome };
    let res;
    try {
      res = await http.request({
        method: "POST",
        url: sendUrl,
        body: JSON.stringify({ message }),
        headers: { authorization: `Bearer ${token.accessToken}`, "content-type": "application/json" },
        signal,
      });
    } catch (err) {
      return { outcome: transportOutcome(err) };
    }
    const body = parseJsonBody(res.body);
    if (res.status === 200) {
      const ok = successSchema.safeParse(body);
      return { outcome: { class: "delivered", status: 200, ...(ok.success ? { messageId: ok.data.name } : {}) } };
    }
    const answer = fcmAnswer(res.status, body, retryAfterSeconds(res.headers["retry-after"], now()), message.token);
    return { outcome: classifyFcm(answer), ...(isStaleAccessToken(answer) ? { staleToken: token.accessToken } : {}) };
  };

  const send = async (attempt: PushAttempt): Promise<DeliveryOutcome> => {
    if (closed) return { class: "retry", reason: "provider closed" };
    if (attempt.signal.aborted) return { class: "retry", reason: "aborted before sending" };
    const message = buildFcmMessage(attempt, now());
    let result = await post(message, attempt.signal);
    if (result.staleToken !== undefined) {
      // An expired or revoked access token is an auth refresh, not a delivery retry (docs/provider-internals.md "FCM"): once, then config.
      auth.invalidate(result.staleToken);
      result = await post(message, attempt.signal);
    }
    const outcome = setup.judge(config.projectId, result.outcome);
    if (outcome.class === "config_error" || outcome.class === "payload_error") {
      log.error(
        { app, node: attempt.node, pushId: attempt.pushId, status: outcome.status, reason: outcome.reason },
        "FCM refused the push",
      );
    }
    return outcome;
  };

  return {
    kind: "fcm",
    name: `fcm:${app}`,
    send,
    async close() {
      closed = true;
      await http.close();
    },
  };
}

function fcmAnswer(httpStatus: number, body: unknown, retryAfter: number | undefined, deviceToken: string): FcmAnswer {
  const parsed = errorSchema.safeParse(body);
  const error = parsed.success ? parsed.data.error : undefined;
  const errorCode = error?.details?.find((d) => d.errorCode !== undefined)?.errorCode;
  const message = scrubToken(error?.message, deviceToken);
  return {
    httpStatus,
    ...(errorCode !== undefined ? { errorCode } : {}),
    ...(error?.status !== undefined ? { status: error.status } : {}),
    ...(message !== undefined ? { message } : {}),
    ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
  };
}

/** Retry-After is delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function retryAfterSeconds(value: unknown, nowMs: number): number | undefined {
  const seconds = headerSeconds(value);
  if (seconds !== undefined) return seconds;
  if (typeof value !== "string") return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - nowMs) / 1000);
}
