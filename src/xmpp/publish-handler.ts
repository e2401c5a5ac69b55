import type { PublishOutcome } from "../domain/delivery-outcome.js";
import type { PublishService } from "../delivery/publish-service.js";
import type { Metrics } from "../observability/metrics.js";
import { reply, type IqHandler, type IqReply } from "./iq-router.js";
import { parsePublish, type ParsedPublish } from "./parse-publish.js";
import { publishReplies, stanzaErrors } from "./stanza-errors.js";

// XEP-0357 §5: the user's server publishes to our component; the publish service decides the outcome,
// stanza-errors.ts's publishReplies the reply it gets.

/** Answers one publish, read either way (parse-publish.ts, publish-scanner.ts), from the IQ's sender. */
export type PublishAnswer = (from: string, parsed: ParsedPublish | { readonly error: string }) => Promise<IqReply>;

export function createPublishAnswer({ publish, metrics }: { publish: PublishService; metrics: Metrics }): PublishAnswer {
  const answered = (result: string, started: number, r: IqReply): IqReply => {
    metrics.publishes.inc({ result });
    metrics.publishReplySeconds.observe({ result }, (performance.now() - started) / 1000);
    return r;
  };
  // One async frame per publish: it is suspended for as long as the push takes, so a second one (an
  // inner helper returning a [label, reply] pair, as before) cost heap for every push in flight.
  return async (from, parsed) => {
    const started = performance.now();
    if (!isServerAddress(from)) return answered("forbidden", started, replyTo("forbidden"));
    if ("error" in parsed) return answered("bad-request", started, reply.error(stanzaErrors.badRequest(parsed.error)));
    const outcome = await publish.publish({
      fromDomain: from.toLowerCase(),
      node: parsed.node,
      options: parsed.options,
      notification: parsed.notification,
    });
    return answered(outcome, started, replyTo(outcome));
  };
}

/** The IQ route for a publish the stream parser built into elements. */
export function createPublishHandler(answerPublish: PublishAnswer): IqHandler {
  return (iq) => answerPublish(iq.from, parsePublish(iq.payload));
}

/** XEP-0357 §5: only a server, publishing from its own bare domain JID, may publish; a user (local@domain) may not. */
export function isServerAddress(from: string): boolean {
  return from !== "" && !from.includes("@") && !from.includes("/");
}

function replyTo(outcome: PublishOutcome): IqReply {
  const error = publishReplies[outcome];
  return error === undefined ? reply.result() : reply.error(error);
}
