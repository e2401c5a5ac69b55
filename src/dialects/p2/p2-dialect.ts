import { hash } from "node:crypto";
import type { DialectProfile } from "../../domain/dialect-profile.js";

// Conversations (p2) matches sha1(bare JID "\0" device id) against its accounts, and a channel hash
// for MUC registrations (p2 Utils.combineAndHash).
export const p2Dialect: DialectProfile = {
  name: "p2",
  pushData: (reg) => ({
    account: sha1Hex(`${reg.ownerJid}\u0000${reg.deviceId}`),
    ...(reg.channel !== "" ? { channel: sha1Hex(`${reg.channel}\u0000${reg.deviceId}`) } : {}),
  }),
};

// One-shot: with more devices than the registration cache holds, this runs for nearly every push, and a
// Hash object per call showed in the 1M-device profile.
function sha1Hex(s: string): string {
  return hash("sha1", s, "hex");
}
