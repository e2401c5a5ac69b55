import type { DialectProfile } from "../../domain/dialect-profile.js";

// mod_push_appserver clients (old Monal) chose the node themselves and find their account by it.
export const appserverDialect: DialectProfile = {
  name: "appserver",
  pushData: (reg) => ({ node: reg.node }),
};
