import type { AddressKind } from "./registration.js";

// What a device token of each provider looks like: the one rule for registrations (every dialect),
// for fpush nodes (which are APNs tokens) and for telling a malformed JPush id apart from a dead one.
//
// - APNs: hex, 64 to 200 characters. Apple's tokens are 32 bytes (64 hex digits) and Apple asks not to
//   hard-code the length, so up to 100 bytes are accepted. The lower bound is 64, not shorter: fpush
//   tells "this XEP-0357 node is an APNs token" by this rule, and a client-chosen node of 16-63 hex
//   digits (a device id, a hash) must stay a node. No client or test registers a shorter APNs token.
// - JPush: letters, digits, '_' and '-', at most 128. JPush's registration ids are alphanumeric
//   ("1a0018970a8a2b0c3d4", under 64 characters), but clients and tests use ids such as
//   "jpush-regid-1"; refusing them at registration buys nothing, since JPush answers for an unknown id.
// - FCM: the characters of FCM registration tokens (base64url plus ':'), 16 to 4,096.
const TOKEN_RULES: Readonly<Record<AddressKind, RegExp>> = {
  apns: /^[0-9a-fA-F]{64,200}$/,
  jpush: /^[A-Za-z0-9_-]{1,128}$/,
  fcm: /^[A-Za-z0-9_:.-]{16,4096}$/,
};

export function isWellFormedToken(kind: AddressKind, token: string): boolean {
  return TOKEN_RULES[kind].test(token);
}

/** APNs tokens are compared and stored in lower case (clients send either). */
export function normalizeToken(kind: AddressKind, token: string): string {
  return kind === "apns" ? token.toLowerCase() : token;
}

/** The characters a node may have (generated ones are base64url; mod_push_appserver clients choose theirs). */
export const NODE_RULE = /^[A-Za-z0-9._~:@+=-]{1,256}$/;
export const NODE_RULE_TEXT = "must be 1 to 256 URL-safe characters";
