import { nodeOf } from "../seed.js";
import type { Rng } from "./fuzz-rng.js";
import { x, type XEl } from "./fuzz-tree.js";
import { oddValue, type Tokens } from "./fuzz-values.js";
import { NS, SEEDED, TIGASE_PROVIDER } from "./fuzz-world.js";

// The registration commands of every dialect the server speaks (p2's register-push-*, mod_push_appserver's
// v1, Tigase's register-device, and their unregisters), from users of the served domain and of others,
// with plausible and odd tokens. Every token is noted in `t.forbidden`: no reply may echo one.

function form(fields: Array<[string, string | string[] | undefined]>, type: string | undefined = "submit"): XEl {
  return x(
    "x",
    { xmlns: NS.data, type },
    ...fields.map(([v, val]) =>
      val === undefined
        ? x("field", { var: v })
        : x("field", { var: v }, ...(Array.isArray(val) ? val : [val]).map((s) => x("value", {}, s))),
    ),
  );
}

function tokenFor(r: Rng, kind: "apns" | "fcm" | "jpush", t: Tokens): string {
  const tok = r.weighted<() => string>([
    [6, () => (kind === "apns" ? r.hex(64) : kind === "fcm" ? `${r.alnum(22)}:APA91b${r.alnum(134)}` : r.alnum(18))],
    [1, () => r.hex(64).toUpperCase()],
    [1, () => `zz${r.hex(40)}`],
    [1, () => oddValue(r)],
  ])();
  if (tok.length >= 12) t.forbidden.push(tok);
  return tok;
}

const USERS = Array.from({ length: 40 }, (_, i) => `user${i}@localhost`);

function userFrom(r: Rng): string {
  return r.weighted<() => string>([
    [10, () => `${r.pick(USERS)}/${r.pick(["phone", "tablet", "Conversations.x1", "ü📱"])}`],
    [3, () => r.pick(USERS)],
    [1, () => `mallory@evil.example/x`],
    [1, () => `${r.pick(USERS).toUpperCase()}/R`],
    [1, () => "localhost"],
    [1, () => `user@l\u043Ecalhost/x`],
    [1, () => `user@localhost.evil.example/x`],
  ])();
}

export function commandBase(r: Rng, t: Tokens): { tree: XEl; label: string } {
  const from = userFrom(r);
  const opt = <T>(p: number, v: () => T): T | undefined => (r.chance(p) ? v() : undefined);
  const deviceId = () =>
    r.weighted<() => string>([
      [8, () => `dev-${r.int(0, 60)}`],
      [1, () => oddValue(r)],
      [1, () => "x".repeat(r.pick([256, 257, 5000]))],
    ])();
  const kind = r.pick(["apns", "fcm", "jpush"] as const);
  const variant = r.weighted<string>([
    [8, "p2-register"],
    [2, "p2-unregister"],
    [5, "v1-register"],
    [2, "v1-unregister"],
    [4, "tigase-register"],
    [2, "tigase-unregister"],
    [2, "no-form"],
    [1, "cancel"],
    [1, "unknown-command"],
  ]);
  let node: string;
  let fields: Array<[string, string | string[] | undefined]> | undefined;
  switch (variant) {
    case "p2-register":
      node = `register-push-${kind}`;
      fields = [
        ["token", tokenFor(r, kind, t)],
        [r.chance(0.8) ? "device-id" : "android-id", deviceId()],
        ["muc", opt(0.15, () => r.pick(["room@conference.localhost", "room@conference.localhost/nick", oddValue(r)]))],
        ["app", opt(0.1, () => r.pick(["chat", "nope", oddValue(r)]))],
        ["environment", opt(0.3, () => r.pick(["sandbox", "production", "staging", oddValue(r)]))],
        ["push-type", opt(0.15, () => r.pick(["alert", "background", "voip"]))],
        ["voip-token", opt(0.15, () => tokenFor(r, "apns", t))],
      ];
      break;
    case "p2-unregister":
      node = `unregister-push-${kind}`;
      fields = [
        ["device-id", deviceId()],
        ["channel", opt(0.2, () => "room@conference.localhost")],
      ];
      break;
    case "v1-register":
      node = "v1-register-push";
      fields = [
        ["FORM_TYPE", opt(0.8, () => r.pick([`${NS.appserver}v1-register-push`, `${NS.appserver}v1-register-pus`, oddValue(r)]))],
        ["type", r.pick([kind, kind, "gcm", oddValue(r)])],
        [
          "node",
          r.weighted<() => string>([
            [6, () => `v1-${r.alnum(12)}`],
            [2, () => nodeOf(r.int(0, SEEDED - 1))],
            [2, () => oddValue(r)],
          ])(),
        ],
        ["token", tokenFor(r, kind, t)],
        ["environment", opt(0.2, () => r.pick(["sandbox", "production", oddValue(r)]))],
      ];
      break;
    case "v1-unregister":
      node = "v1-unregister-push";
      fields = [
        ["type", kind],
        ["node", r.chance(0.5) ? nodeOf(r.int(0, SEEDED - 1)) : oddValue(r)],
      ];
      break;
    case "tigase-register":
      node = "register-device";
      fields = [
        ["provider", r.pick([TIGASE_PROVIDER, TIGASE_PROVIDER, "tigase:messenger:fcm:9", oddValue(r)])],
        ["device-token", tokenFor(r, "apns", t)],
        ["device-second-token", opt(0.3, () => tokenFor(r, "apns", t))],
      ];
      break;
    case "tigase-unregister":
      node = "unregister-device";
      fields = [
        ["provider", TIGASE_PROVIDER],
        ["device-token", tokenFor(r, "apns", t)],
      ];
      break;
    case "no-form":
      node = r.pick(["register-push-apns", "v1-register-push", "register-device", "unregister-push-fcm"]);
      break;
    case "cancel":
      node = r.pick(["register-push-apns", "v1-register-push"]);
      break;
    default:
      node = r.pick(["register-push-gcm", "", "execute", oddValue(r)]);
  }
  const action =
    variant === "cancel"
      ? "cancel"
      : r.weighted<string | undefined>([
          [8, undefined],
          [3, "execute"],
          [1, "complete"],
          [1, "next"],
          [1, "prev"],
          [1, oddValue(r)],
        ]);
  const sessionid = r.chance(0.2) ? oddValue(r) : undefined;
  const tree = x(
    "iq",
    { type: "set", from, to: "push.localhost" },
    x(
      "command",
      { xmlns: NS.commands, node, action, sessionid },
      fields
        ? form(
            fields,
            r.weighted<string | undefined>([
              [12, "submit"],
              [1, undefined],
              [1, "form"],
              [1, "cancel"],
            ]),
          )
        : undefined,
    ),
  );
  return { tree, label: `cmd:${variant}` };
}
