import type { Element } from "@xmpp/xml";
import { bareJid } from "../domain/jid.js";
import type { Logger } from "../observability/logger.js";
import { errorReply, replyText, resultReply, stanzaErrors, type IqAddress, type StanzaErrorSpec } from "./stanza-errors.js";

// Routes IQs on (type, namespace, element name), like xmpp.js's iqCallee, but with our defaults:
// every get/set gets exactly one reply, a handler that throws yields `wait` (never `cancel`, which
// would cost the user a registration), and no error reply ever echoes the request.

export interface IncomingIq {
  readonly stanza: Element;
  readonly from: string;
  readonly to: string;
  readonly id: string;
  readonly type: "get" | "set";
  readonly payload: Element;
}

export type IqReply = { readonly result: Element | undefined } | { readonly error: StanzaErrorSpec };

export const reply = {
  result: (child?: Element): IqReply => ({ result: child }),
  error: (error: StanzaErrorSpec): IqReply => ({ error }),
};

export type IqHandler = (iq: IncomingIq) => IqReply | Promise<IqReply>;

export interface IqRouter {
  route(type: "get" | "set", ns: string, name: string, handler: IqHandler): void;
  /** Handles one incoming stanza; resolves once the reply (if any) was handed to `send`. */
  handle(stanza: Element): Promise<void>;
  /**
   * Answers an IQ set that was read from its text, not parsed (publish-scanner.ts), by the same rules:
   * exactly one reply, `wait` when the handler throws. The reply goes to `sendText`.
   */
  answerText(address: IqAddress, payload: { readonly ns: string; readonly name: string }, handler: () => Promise<IqReply>): Promise<void>;
}

export interface IqRouterDeps {
  readonly send: (el: Element) => Promise<unknown>;
  readonly sendText: (text: string) => Promise<unknown>;
  readonly log: Logger;
}

export function createIqRouter({ send, sendText, log }: IqRouterDeps): IqRouter {
  const routes = new Map<string, IqHandler>();
  const key = (type: string, ns: string | undefined, name: string) => `${type}\u0000${ns ?? ""}\u0000${name}`;

  const answer = async (stanza: Element, r: IqReply) => {
    await send("error" in r ? errorReply(stanza, r.error) : resultReply(stanza, r.result));
  };

  // A handler that throws is our own trouble: the server should try again later, not drop the device.
  const failed = (err: unknown, ns: string | undefined, name: string): IqReply => {
    log.error({ err, ns, name }, "IQ handler failed; answered wait");
    return reply.error(stanzaErrors.internalWait());
  };
  const settled = async (handler: () => IqReply | Promise<IqReply>, ns: string | undefined, name: string): Promise<IqReply> => {
    try {
      return await handler();
    } catch (err) {
      return failed(err, ns, name);
    }
  };

  return {
    route(type, ns, name, handler) {
      routes.set(key(type, ns, name), handler);
    },
    async handle(stanza) {
      if (stanza.name !== "iq") return; // messages and presences need no answer from a push service
      const type = stanza.attrs.type;
      if (type !== "get" && type !== "set") return; // results and errors are never answered (RFC 6120 §8.2.3)
      // The XMPP server stamps every stanza it routes to a component with its sender. One without is not
      // from any account: serving it would register a device to nobody, past the domain check and the cap.
      const from = stanza.attrs.from ?? "";
      if (bareJid(from) === undefined) {
        await answer(stanza, reply.error(stanzaErrors.badRequest("the IQ has no sender address (from)")));
        return;
      }
      const children = stanza.getChildElements();
      if (children.length !== 1) {
        await answer(stanza, reply.error(stanzaErrors.badRequest("an IQ get/set carries exactly one payload element")));
        return;
      }
      const payload = children[0]!;
      const handler = routes.get(key(type, payload.attrs.xmlns, payload.name));
      if (handler === undefined) {
        await answer(stanza, reply.error(stanzaErrors.serviceUnavailable()));
        return;
      }
      const r = await settled(
        () => handler({ stanza, from, to: stanza.attrs.to ?? "", id: stanza.attrs.id ?? "", type, payload }),
        payload.attrs.xmlns,
        payload.name,
      );
      await answer(stanza, r);
    },
    // Every publish passes here and waits in it as long as its push takes: one async frame, not two
    // (settled() inside would be a second one per push in flight).
    async answerText(address, payload, handler) {
      let r: IqReply;
      try {
        r = await handler();
      } catch (err) {
        r = failed(err, payload.ns, payload.name);
      }
      await sendText(replyText(address, "error" in r ? r.error : undefined, "error" in r ? undefined : r.result));
    },
  };
}
