import type { DialectProfile } from "../../domain/dialect-profile.js";

// Siskin and Snikket iOS (Tigase clients) read the account JID from the push.
export const tigaseDialect: DialectProfile = {
  name: "tigase",
  pushData: (reg) => ({ account: reg.ownerJid }),
};
