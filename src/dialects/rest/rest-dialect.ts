import type { DialectProfile } from "../../domain/dialect-profile.js";

// Apps registered over the JSON API get their node back, as mod_push_appserver clients do.
export const restDialect: DialectProfile = {
  name: "rest",
  pushData: (reg) => ({ node: reg.node }),
};
