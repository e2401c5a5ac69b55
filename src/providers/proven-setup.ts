import { outcomeOf, type DeliveryOutcome, type TokenDead } from "../domain/delivery-outcome.js";
import type { Clock } from "../ports/clock.js";

// Some provider answers that mean "this device token is dead" are also what our own mistake produces:
// APNs BadDeviceToken / DeviceTokenNotForTopic for the wrong environment or bundle id, FCM
// INVALID_ARGUMENT "not a valid registration token" for a message we built wrong. Believing them would
// let one config mistake disable every registration it touches. The one rule, for every provider
// (docs/provider-internals.md "Token verdicts we only believe from a proven setup"):
//   a doubtful token verdict is believed only when the same setup has delivered within the last hour;
//   until then it is reported as the mistake of ours the same answer also means, never as token_dead.
// Which mistake that is belongs to the provider's answer, so each transport names it (`blame`):
// APNs's answer points at our setup (config_error: the breaker opens and the operator is alarmed),
// FCM's at our message (payload_error: logged at ERROR, the device is kept).

export const PROVEN_FOR_MS = 60 * 60 * 1000;

export interface ProvenSetupRule<K> {
  /** The token verdicts our own mistake can also produce. */
  readonly doubtful: (outcome: TokenDead) => boolean;
  /** The class of our own mistake the same answer means while the setup is unproven. */
  readonly blame: "config_error" | "payload_error";
  /** Told to the operator in the reason: what to check. */
  readonly hint: (key: K) => string;
}

export interface ProvenSetup<K> {
  /**
   * The outcome to act on for a push through setup `key`: a delivery proves the setup; a doubtful token
   * verdict from an unproven setup becomes `blame`; everything else passes unchanged.
   */
  judge(key: K, outcome: DeliveryOutcome): DeliveryOutcome;
}

export function createProvenSetup<K>({ clock, rule }: { clock: Clock; rule: ProvenSetupRule<K> }): ProvenSetup<K> {
  const lastSuccess = new Map<K, number>();
  const now = () => clock.now().getTime();
  return {
    judge(key, outcome) {
      if (outcome.class === "delivered") {
        lastSuccess.set(key, now());
        return outcome;
      }
      if (outcome.class !== "token_dead" || !rule.doubtful(outcome)) return outcome;
      if (now() - (lastSuccess.get(key) ?? -Infinity) < PROVEN_FOR_MS) return outcome;
      return outcomeOf(rule.blame, { ...outcome, reason: `${outcome.reason ?? "token rejected"} (${rule.hint(key)})` });
    },
  };
}
