import type { DeliveryOutcome } from "../../src/domain/delivery-outcome.js";
import type { PushAttempt, PushProvider } from "../../src/ports/push-provider.js";
import type { ProviderFactory } from "../../src/providers/provider-registry.js";

// A provider whose answers a test scripts, by token by default (Sygnal's TestPushkin idea):
// a token beginning with "dead" is unregistered, "down" gets 503, "config" a credentials error,
// "payload" a payload rejection, "hang" never answers; anything else is delivered.

export type Script = (attempt: PushAttempt) => DeliveryOutcome | "hang" | Promise<DeliveryOutcome>;

/**
 * Whether the token begins with the keyword, as text (JPush, FCM) or hex-encoded (APNs tokens are hex).
 * Only its beginning: tests build tokens as a tag followed by random hex, and "dead" is all hex digits,
 * so a random tail of 60 hex digits holds it about once in 1,100 tokens.
 */
export const tokenSays = (token: string, keyword: string) =>
  token.startsWith(keyword) || token.startsWith(Buffer.from(keyword).toString("hex"));

export const byToken: Script = (a) => {
  const has = (k: string) => tokenSays(a.address.token, k);
  if (has("dead")) return { class: "token_dead", status: 410, reason: "Unregistered" };
  if (has("down")) return { class: "retry", status: 503, reason: "ServiceUnavailable" };
  if (has("config")) return { class: "config_error", status: 403, reason: "InvalidProviderToken" };
  if (has("payload")) return { class: "payload_error", status: 400, reason: "BadTopic" };
  if (has("hang")) return "hang";
  return { class: "delivered", status: 200, messageId: `msg-${a.pushId}-${a.attempt}` };
};

export interface ScriptedProviders {
  readonly factory: ProviderFactory;
  readonly sent: Array<{ app: string; kind: string; attempt: PushAttempt }>;
  setScript(kind: "apns" | "jpush" | "fcm", script: Script): void;
  delivered(kind?: string): Array<{ app: string; kind: string; attempt: PushAttempt }>;
}

export function scriptedProviders(): ScriptedProviders {
  const sent: Array<{ app: string; kind: string; attempt: PushAttempt; outcome?: DeliveryOutcome }> = [];
  const scripts = new Map<string, Script>();
  const make = (app: string, kind: "apns" | "jpush" | "fcm"): PushProvider => ({
    kind,
    name: `${kind}:${app}`,
    async send(attempt) {
      const entry: (typeof sent)[number] = { app, kind, attempt };
      sent.push(entry);
      const r = await (scripts.get(kind) ?? byToken)(attempt);
      if (r === "hang") return new Promise<DeliveryOutcome>(() => undefined);
      entry.outcome = r;
      return r;
    },
    async close() {},
  });
  return {
    factory: (app) => ({
      ...(app.apns ? { apns: make(app.id, "apns") } : {}),
      ...(app.jpush ? { jpush: make(app.id, "jpush") } : {}),
      ...(app.fcm ? { fcm: make(app.id, "fcm") } : {}),
    }),
    sent,
    setScript: (kind, script) => void scripts.set(kind, script),
    delivered: (kind) => sent.filter((s) => s.outcome?.class === "delivered" && (kind === undefined || s.kind === kind)),
  };
}
