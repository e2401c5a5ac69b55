import type { Dialect, Registration } from "./registration.js";

// What each registration dialect decides beyond its wire format (src/dialects/<name>/): its name, which
// is stored on the registration and is the `dialect` label of xmpp_push_registration_requests_total, and
// the custom keys its client apps read from a push to know which account woke them.

export interface DialectProfile {
  readonly name: Dialect;
  /** Keys added to every push for a registration of this dialect. */
  pushData(reg: Registration): Record<string, string>;
}
