import type { Element } from "@xmpp/xml";
import type { PublishOutcome } from "../domain/delivery-outcome.js";
import type { PublishService } from "../delivery/publish-service.js";
import type { Metrics } from "../observability/metrics.js";
import { reply, type IqHandler, type IqReply } from "./iq-router.js";
import { parsePublish } from "./parse-publish.js";
import { publishReplies, stanzaErrors } from "./stanza-errors.js";

// XEP-0357 §5: the user's server publishes to our component; the publish service decides the outcome,
// stanza-errors.ts's publishReplies the reply it gets.

export function createPublishHandler({ publish, metrics }: { publish: PublishService; metrics: Metrics }): IqHandler {
  return async (iq) => {
    const started = performance.now();
    const [label, r] = await answer(iq.from, iq.payload, publish);
    metrics.publishes.inc({ result: label });
    metrics.publishReplySeconds.observe({ result: label }, (performance.now() - started) / 1000);
    return r;
  };
}

function replyTo(outcome: PublishOutcome): IqReply {
  const error = publishReplies[outcome];
  return error === undefined ? reply.result() : reply.error(error);
}

async function answer(from: string, pubsub: Element, publish: PublishService): Promise<[string, IqReply]> {
  // XEP-0357 §5: the server publishes from its own bare domain JID. A user (local@domain) may not.
  if (from === "" || from.includes("@") || from.includes("/")) return ["forbidden", replyTo("forbidden")];
  const parsed = parsePublish(pubsub);
  if ("error" in parsed) return ["bad-request", reply.error(stanzaErrors.badRequest(parsed.error))];
  const outcome = await publish.publish({
    fromDomain: from.toLowerCase(),
    node: parsed.node,
    options: parsed.options,
    notification: parsed.notification,
  });
  return [outcome, replyTo(outcome)];
}
