import type { DeviceAddress, Registration } from "../domain/registration.js";
import type { ProviderKind } from "../ports/push-provider.js";

// Which provider addresses a push goes to, in which order. Pure: the app's ordered chain, filtered to
// the live addresses the device registered. APNs is not guaranteed to reach a phone (and in some
// regions is slow); a second channel such as JPush backs it up.

export interface Strategy {
  readonly providers: readonly ProviderKind[];
  readonly mode: "fallback" | "all";
}

export interface PlannedTarget {
  readonly provider: ProviderKind;
  readonly address: DeviceAddress;
}

export function planTargets(reg: Registration, strategy: Strategy): PlannedTarget[] {
  const live = reg.addresses.filter((a) => a.disabledAtMs === undefined);
  const targets: PlannedTarget[] = [];
  for (const provider of strategy.providers) {
    if (provider === "log") {
      // The dry-run provider stands in for whichever address the device has.
      const first = live[0];
      if (first) targets.push({ provider, address: first });
      continue;
    }
    const address = live.find((a) => a.provider === provider);
    if (address) targets.push({ provider, address });
  }
  return targets;
}
