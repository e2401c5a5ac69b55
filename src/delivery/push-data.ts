import { createHash } from "node:crypto";
import type { Registration } from "../domain/registration.js";

// The custom keys a client app reads from the push to know which account woke it. Each client family
// expects its own: Conversations (p2) matches sha1(bare JID "\0" device id) and sends a channel hash
// for MUC registrations (p2 Utils.combineAndHash); Siskin/Snikket (Tigase) read the account JID.

// Computed once per loaded registration (the same object serves every push until the cache drops it).
const computed = new WeakMap<Registration, Readonly<Record<string, string>>>();

export function pushDataFor(reg: Registration): Readonly<Record<string, string>> {
  let data = computed.get(reg);
  if (data === undefined) {
    data = build(reg);
    computed.set(reg, data);
  }
  return data;
}

function build(reg: Registration): Record<string, string> {
  switch (reg.dialect) {
    case "p2":
      return {
        account: sha1Hex(`${reg.ownerJid}\u0000${reg.deviceId}`),
        ...(reg.channel !== "" ? { channel: sha1Hex(`${reg.channel}\u0000${reg.deviceId}`) } : {}),
      };
    case "tigase":
      return { account: reg.ownerJid };
    case "appserver":
    case "rest":
      return { node: reg.node };
    case "fpush":
      // Monal's extension knows its account from the app group; fpush sends nothing either.
      return {};
  }
}

function sha1Hex(s: string): string {
  return createHash("sha1").update(s, "utf8").digest("hex");
}
