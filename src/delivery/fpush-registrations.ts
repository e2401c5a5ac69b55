import type { Registration } from "../domain/registration.js";

// What a publish needs from fpush (Monal), which has no registration step: the XEP-0357 node *is*
// the device's APNs token. The implementation is src/dialects/fpush/fpush-resolver.ts.

export interface FpushResolver {
  /** Whether this publish is an fpush one (an fpush module matches and the node looks like a token). */
  applies(node: string, options: ReadonlyMap<string, string>): boolean;
  /** The registration behind an fpush node, created on its first publish; undefined when not fpush. */
  resolve(fromDomain: string, node: string, options: ReadonlyMap<string, string>): Promise<Registration | undefined>;
}
