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
  return async (from, parsed) => {
    const started = performance.now();
    const [label, r] = await answer(from, parsed, publish);
    metrics.publishes.inc({ result: label });
    metrics.publishReplySeconds.observe({ result: label }, (performance.now() - started) / 1000);
    return r;
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

async function answer(
  from: string,
  parsed: ParsedPublish | { readonly error: string },
  publish: PublishService,
): Promise<[string, IqReply]> {
  if (!isServerAddress(from)) return ["forbidden", replyTo("forbidden")];
  if ("error" in parsed) return ["bad-request", reply.error(stanzaErrors.badRequest(parsed.error))];
  const outcome = await publish.publish({
    fromDomain: from.toLowerCase(),
    node: parsed.node,
    options: parsed.options,
    notification: parsed.notification,
  });
  return [outcome, replyTo(outcome)];
}
