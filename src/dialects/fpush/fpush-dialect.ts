import type { DialectProfile } from "../../domain/dialect-profile.js";

// Monal's extension knows its account from the app group; fpush sends nothing either.
export const fpushDialect: DialectProfile = {
  name: "fpush",
  pushData: () => ({}),
};
