import type { Element } from "@xmpp/xml";
import type { PublishOutcome, PublishService } from "../delivery/publish-service.js";
import type { Metrics } from "../observability/metrics.js";
import { reply, type IqHandler, type IqReply } from "./iq-router.js";
import { parsePublish } from "./parse-publish.js";
import { stanzaErrors } from "./stanza-errors.js";

// XEP-0357 §5: the user's server publishes to our component. The reply type is the contract with
// the server (docs/xmpp-server-setup.md): cancel only for a dead device, auth for a bad sender or secret, modify
// for a malformed request, wait for everything transient.
const REPLIES: Record<PublishOutcome, () => IqReply> = {
  delivered: () => reply.result(),
  queued: () => reply.result(),
  coalesced: () => reply.result(),
  forbidden: () => reply.error(stanzaErrors.forbidden("this push service does not serve your domain")),
  "unknown-node": () => reply.error(stanzaErrors.itemNotFound("no such push registration")),
  "token-dead": () => reply.error(stanzaErrors.itemNotFound("the device is no longer registered with its push provider")),
  "not-authorized": () => reply.error(stanzaErrors.notAuthorized()),
  "payload-error": () => reply.error(stanzaErrors.internalWait("the push provider refused our request; we are looking into it")),
  unavailable: () => reply.error(stanzaErrors.internalWait("temporarily unable to deliver; try again later")),
  overloaded: () => reply.error(stanzaErrors.resourceConstraint("too many pushes in progress; try again later")),
};

export function createPublishHandler({ publish, metrics }: { publish: PublishService; metrics: Metrics }): IqHandler {
  return async (iq) => {
    const started = performance.now();
    const [label, r] = await answer(iq.from, iq.payload, publish);
    metrics.publishes.inc({ result: label });
    metrics.publishReplySeconds.observe({ result: label }, (performance.now() - started) / 1000);
    return r;
  };
}

async function answer(from: string, pubsub: Element, publish: PublishService): Promise<[string, IqReply]> {
  // XEP-0357 §5: the server publishes from its own bare domain JID. A user (local@domain) may not.
  if (from === "" || from.includes("@") || from.includes("/")) return ["forbidden", REPLIES.forbidden()];
  const parsed = parsePublish(pubsub);
  if ("error" in parsed) return ["bad-request", reply.error(stanzaErrors.badRequest(parsed.error))];
  const outcome = await publish.publish({ fromDomain: from.toLowerCase(), node: parsed.node, options: parsed.options, notification: parsed.notification });
  return [outcome, REPLIES[outcome]()];
}
