import type { OutboundProxy } from "../config/config-schema.js";
import type { Logger } from "../observability/logger.js";
import type { Clock } from "../ports/clock.js";

/** What every provider adapter is built from: one app's settings for it, and what all providers share. */
export interface ProviderDeps<C> {
  readonly app: string;
  readonly config: C;
  readonly log: Logger;
  /** The outbound proxy (httpsProxy); undefined: connect directly. */
  readonly proxy?: OutboundProxy | undefined;
  /** Time for expiry fields, token lifetimes and proven setups; the composition root passes its own (systemClock when absent). */
  readonly clock?: Clock | undefined;
}
