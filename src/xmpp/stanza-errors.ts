import xml, { type Element } from "@xmpp/xml";
import type { PublishOutcome } from "../domain/delivery-outcome.js";
import { NS } from "./namespaces.js";

// The one table of error replies. The *type* is what the user's server acts on (docs/xmpp-server-setup.md):
// ejabberd deletes the push registration on the first error that is not `wait`, Prosody after
// push_max_errors of them. So only a dead device (unknown node, token rejected as unregistered) and
// a request that is wrong in itself may use cancel/modify/auth; everything transient is `wait`.

export type ErrorType = "cancel" | "wait" | "modify" | "auth";

export interface StanzaErrorSpec {
  readonly type: ErrorType;
  readonly condition: string;
  readonly text?: string;
}

export const stanzaErrors = {
  /** The request itself is malformed. */
  badRequest: (text: string): StanzaErrorSpec => ({ type: "modify", condition: "bad-request", text }),
  /** No such registration, or its token is dead: the server should forget it. */
  itemNotFound: (text?: string): StanzaErrorSpec => ({ type: "cancel", condition: "item-not-found", ...(text ? { text } : {}) }),
  /** The publish secret does not match. */
  notAuthorized: (): StanzaErrorSpec => ({ type: "auth", condition: "not-authorized" }),
  /** The sender is not a server we serve. */
  forbidden: (text: string): StanzaErrorSpec => ({ type: "auth", condition: "forbidden", text }),
  /** A registration request we refuse by policy (e.g. device cap). */
  notAllowed: (text: string): StanzaErrorSpec => ({ type: "cancel", condition: "not-allowed", text }),
  conflict: (text: string): StanzaErrorSpec => ({ type: "cancel", condition: "conflict", text }),
  /** Unknown namespace or command (RFC 6120 §8.3.3.19). */
  serviceUnavailable: (): StanzaErrorSpec => ({ type: "cancel", condition: "service-unavailable" }),
  /** Our own trouble (database down, provider outage, our misconfiguration): try again later. */
  internalWait: (text?: string): StanzaErrorSpec => ({ type: "wait", condition: "internal-server-error", ...(text ? { text } : {}) }),
  /** Overloaded or rate-limited. */
  resourceConstraint: (text?: string): StanzaErrorSpec => ({ type: "wait", condition: "resource-constraint", ...(text ? { text } : {}) }),
} as const;

/**
 * XEP-0357 §5: the reply to every publish outcome (undefined: an IQ result). The type is the contract with
 * the user's server: cancel only for a dead device or unknown node, auth for a bad sender or secret, wait
 * for everything transient (a bad request, modify, is answered before there is an outcome).
 */
export const publishReplies: Readonly<Record<PublishOutcome, StanzaErrorSpec | undefined>> = {
  delivered: undefined,
  queued: undefined,
  coalesced: undefined,
  forbidden: stanzaErrors.forbidden("this push service does not serve your domain"),
  "unknown-node": stanzaErrors.itemNotFound("no such push registration"),
  "token-dead": stanzaErrors.itemNotFound("the device is no longer registered with its push provider"),
  "not-authorized": stanzaErrors.notAuthorized(),
  "payload-error": stanzaErrors.internalWait("the push provider refused our request; we are looking into it"),
  unavailable: stanzaErrors.internalWait("temporarily unable to deliver; try again later"),
  overloaded: stanzaErrors.resourceConstraint("too many pushes in progress; try again later"),
};

/** An error reply carrying our error element only: the request's payload (and its publish secret) is never echoed. */
export function errorReply(request: Element, spec: StanzaErrorSpec): Element {
  return xml(
    request.name,
    { type: "error", id: request.attrs.id, to: request.attrs.from, from: request.attrs.to },
    xml(
      "error",
      { type: spec.type },
      xml(spec.condition, { xmlns: NS.stanzas }),
      spec.text !== undefined ? xml("text", { xmlns: NS.stanzas, "xml:lang": "en" }, spec.text) : undefined,
    ),
  );
}

export function resultReply(request: Element, child?: Element): Element {
  return xml("iq", { type: "result", id: request.attrs.id, to: request.attrs.from, from: request.attrs.to }, child);
}

/** An IQ's addressing, as the request carried it. */
export interface IqAddress {
  readonly id: string;
  readonly from: string;
  readonly to: string;
}

/**
 * resultReply/errorReply as text, for a request read from its text (publish-scanner.ts). The result,
 * the reply to nearly every publish, is written directly: no element to build and serialise per push.
 */
export function replyText(request: IqAddress, error?: StanzaErrorSpec, resultChild?: Element): string {
  if (error === undefined && resultChild === undefined) {
    const { escapeXML } = xml; // @xmpp/xml is CommonJS: its functions are not named exports at run time
    return `<iq type="result" id="${escapeXML(request.id)}" to="${escapeXML(request.from)}" from="${escapeXML(request.to)}"/>`;
  }
  const asElement = xml("iq", { id: request.id, from: request.from, to: request.to });
  return (error === undefined ? resultReply(asElement, resultChild) : errorReply(asElement, error)).toString();
}
