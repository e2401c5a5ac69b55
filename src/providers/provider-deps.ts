import type { OutboundProxy } from "../config/config-schema.js";
import type { Logger } from "../observability/logger.js";

/** What every provider adapter is built from: one app's settings for it, and what all providers share. */
export interface ProviderDeps<C> {
  readonly app: string;
  readonly config: C;
  readonly log: Logger;
  /** The outbound proxy (httpsProxy); undefined: connect directly. */
  readonly proxy?: OutboundProxy | undefined;
  readonly now?: () => number;
}
