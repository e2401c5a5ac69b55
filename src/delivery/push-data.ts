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

// Computed once per loaded registration (the same object serves every push until the cache drops it),
// and kept on the registration object itself, under a property nobody else can see or enumerate. Not in
// a WeakMap: with devices far more than the cache holds, every push loads a new registration, and a
// WeakMap entry per push made each garbage collection much dearer (its entries are ephemerons, marked
// over and over; measured: background marking per mark-compact about doubled at 1M devices, and
// scavenges took twice as long).
const PUSH_DATA = Symbol("pushData");

type WithPushData = Registration & { readonly [PUSH_DATA]?: Readonly<Record<string, string>> };

export function pushDataFor(reg: Registration): Readonly<Record<string, string>> {
  const kept = (reg as WithPushData)[PUSH_DATA];
  if (kept !== undefined) return kept;
  const data = profiles[reg.dialect].pushData(reg);
  // Frozen objects (none are today) just go without: recomputed next time.
  if (Object.isExtensible(reg)) Object.defineProperty(reg, PUSH_DATA, { value: data, enumerable: false });
  return data;
}
