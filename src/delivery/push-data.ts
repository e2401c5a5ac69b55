import type { DialectProfile } from "../domain/dialect-profile.js";
import type { Dialect, Registration } from "../domain/registration.js";
import { appserverDialect } from "../dialects/appserver/appserver-dialect.js";
import { fpushDialect } from "../dialects/fpush/fpush-dialect.js";
import { p2Dialect } from "../dialects/p2/p2-dialect.js";
import { restDialect } from "../dialects/rest/rest-dialect.js";
import { tigaseDialect } from "../dialects/tigase/tigase-dialect.js";

// The custom keys a client app reads from the push to know which account woke it: each dialect says
// its own (src/dialects/<name>/<name>-dialect.ts). A Record, so a new dialect without a profile does
// not build.
const profiles: Readonly<Record<Dialect, DialectProfile>> = {
  p2: p2Dialect,
  appserver: appserverDialect,
  tigase: tigaseDialect,
  fpush: fpushDialect,
  rest: restDialect,
};

// Computed once per loaded registration (the same object serves every push until the cache drops it).
const computed = new WeakMap<Registration, Readonly<Record<string, string>>>();

export function pushDataFor(reg: Registration): Readonly<Record<string, string>> {
  let data = computed.get(reg);
  if (data === undefined) {
    data = profiles[reg.dialect].pushData(reg);
    computed.set(reg, data);
  }
  return data;
}
