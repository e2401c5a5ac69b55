import type { Element } from "@xmpp/xml";
import { describe, expect, it } from "vitest";
import type { PublishInput, PublishService } from "../../../src/delivery/publish-service.js";
import { publishOutcomes, type PublishOutcome } from "../../../src/domain/delivery-outcome.js";
import { createMetrics } from "../../../src/observability/metrics.js";
import { createIqRouter } from "../../../src/xmpp/iq-router.js";
import { createPublishAnswer, createPublishHandler } from "../../../src/xmpp/publish-handler.js";
import { scanPublish } from "../../../src/xmpp/publish-scanner.js";
import { publishReplies } from "../../../src/xmpp/stanza-errors.js";
import { recordingLogger } from "../../support/memory/recording-logger.js";
import { captured, CAPTURED_PUBLISHES, capturedText, parseXml } from "../../support/stanzas.js";

// The two ways a publish reaches the publish service: parsed into elements and routed (any publish),
// or read from its text (publish-scanner.ts, the common shape). They must answer alike.
type Path = "tree" | "text";
const PUBSUB = { ns: "http://jabber.org/protocol/pubsub", name: "pubsub" };

function harness(outcome: PublishOutcome | (() => never)) {
  const sent: Element[] = [];
  const inputs: PublishInput[] = [];
  const { log, text } = recordingLogger();
  const publish: PublishService = {
    publish: async (input) => {
      inputs.push(input);
      return typeof outcome === "function" ? outcome() : outcome;
    },
    drain: async () => {},
  };
  const sentText: string[] = [];
  const router = createIqRouter({
    send: async (el) => void sent.push(el),
    sendText: async (t) => {
      sentText.push(t);
      sent.push(parseXml(t));
    },
    log,
  });
  const answer = createPublishAnswer({ publish, metrics: createMetrics() });
  router.route("set", PUBSUB.ns, "pubsub", createPublishHandler(answer));
  const deliver = async (path: Path, stanza: string) => {
    if (path === "tree") return router.handle(parseXml(stanza));
    const scanned = scanPublish(stanza);
    if (scanned === undefined) throw new Error("the scanner declined a publish it should read");
    return router.answerText(scanned, PUBSUB, () => answer(scanned.from, scanned.publish));
  };
  return { router, deliver, sent, sentText, inputs, logText: text };
}

const errorOf = (el: Element) => {
  const e = el.getChild("error")!;
  return `${e.attrs.type}/${e.getChildElements()[0]!.name}`;
};

describe("publish replies: the error type is what the user's server acts on", () => {
  // A Record: the compiler refuses this table when an outcome is added without its expected reply.
  const table: Record<PublishOutcome, string> = {
    delivered: "result",
    queued: "result",
    coalesced: "result",
    "unknown-node": "cancel/item-not-found",
    "token-dead": "cancel/item-not-found",
    "not-authorized": "auth/not-authorized",
    forbidden: "auth/forbidden",
    "payload-error": "wait/internal-server-error",
    unavailable: "wait/internal-server-error",
    overloaded: "wait/resource-constraint",
  };

  it("has a reply for every publish outcome of the domain, and cancels only for a gone device", () => {
    expect(Object.keys(publishReplies).sort()).toEqual([...publishOutcomes].sort());
    const cancels = publishOutcomes.filter((o) => publishReplies[o]?.type === "cancel");
    expect(cancels).toEqual(["unknown-node", "token-dead"]);
  });

  for (const [outcome, expected] of Object.entries(table) as Array<[PublishOutcome, string]>) {
    it.each(["tree", "text"] as const)(`${outcome} → ${expected} (%s)`, async (path) => {
      const h = harness(outcome);
      await h.deliver(path, capturedText("prosody-default-body"));
      const r = h.sent[0]!;
      expect(r.attrs).toMatchObject({
        to: "localhost",
        from: "push.localhost",
        id: "09fdf0aadb628508bf4e12f1511ed7cd2aeb9490c504b521e6761620a52f4b3a",
      });
      expect(r.attrs.type === "result" ? "result" : errorOf(r)).toBe(expected);
    });
  }

  it.each(["tree", "text"] as const)(
    "hands every captured publish to the service with the server's domain, node, options and summary (%s)",
    async (path) => {
      for (const name of CAPTURED_PUBLISHES) {
        const h = harness("delivered");
        await h.deliver(path, capturedText(name));
        expect(h.inputs[0]).toMatchObject({ fromDomain: "localhost", node: "testnode123", options: new Map([["secret", "s3cr3t"]]) });
        expect(h.sent[0]!.attrs.type).toBe("result");
      }
    },
  );

  it("reads every captured publish from its text exactly as from its elements", async () => {
    for (const name of CAPTURED_PUBLISHES) {
      const tree = harness("delivered");
      const text = harness("delivered");
      await tree.deliver("tree", capturedText(name));
      await text.deliver("text", capturedText(name));
      expect(text.inputs).toEqual(tree.inputs);
      expect(text.sent[0]!.attrs).toEqual({ ...tree.sent[0]!.attrs });
    }
  });

  it("writes the result reply with every attribute escaped", async () => {
    const h = harness("delivered");
    const stanza = capturedText("prosody-default-body").replace(/id='[^']*'/, `id='a&amp;b&lt;c&apos;d&quot;'`);
    await h.deliver("text", stanza);
    expect(h.sentText[0]).toBe(`<iq type="result" id="a&amp;b&lt;c&apos;d&quot;" to="localhost" from="push.localhost"/>`);
    expect(h.sent[0]!.attrs.id).toBe(`a&b<c'd"`);
  });

  it.each(["tree", "text"] as const)("never echoes the request (its secret) in an error reply (%s)", async (path) => {
    for (const outcome of ["unknown-node", "not-authorized", "unavailable"] as const) {
      const h = harness(outcome);
      await h.deliver(path, capturedText("ejabberd-with-body-sender"));
      const xml = h.sent[0]!.toString();
      expect(xml).not.toContain("s3cr3t");
      expect(xml).not.toContain("pubsub");
      expect(xml).not.toContain("Hello alice");
    }
  });

  it("refuses a publish from a user JID instead of a server", async () => {
    const h = harness("delivered");
    const iq = captured("prosody-default-body");
    iq.attrs.from = "mallory@localhost/x";
    await h.router.handle(iq);
    expect(errorOf(h.sent[0]!)).toBe("auth/forbidden");
    expect(h.inputs).toHaveLength(0);
  });

  it("answers modify/bad-request to a publish without a node", async () => {
    const h = harness("delivered");
    await h.router.handle(
      parseXml(
        `<iq type='set' id='1' from='localhost' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish><item/></publish></pubsub></iq>`,
      ),
    );
    expect(errorOf(h.sent[0]!)).toBe("modify/bad-request");
    expect(h.sent[0]!.getChild("error")!.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas")).toBe("the publish has no node");
  });

  it.each(["tree", "text"] as const)("answers wait when our code throws, and logs it without the secret (%s)", async (path) => {
    const h = harness(() => {
      throw new Error("boom");
    });
    await h.deliver(path, capturedText("prosody-default-body"));
    expect(errorOf(h.sent[0]!)).toBe("wait/internal-server-error");
    expect(h.logText()).toContain("boom");
    expect(h.logText()).not.toContain("s3cr3t");
  });
});

describe("iq router", () => {
  it("answers unknown namespaces with cancel/service-unavailable, without echoing", async () => {
    const h = harness("delivered");
    await h.router.handle(
      parseXml(
        `<iq type='get' id='q' from='alice@localhost/a' to='push.localhost'><query xmlns='urn:example:unknown'><secret>x</secret></query></iq>`,
      ),
    );
    expect(errorOf(h.sent[0]!)).toBe("cancel/service-unavailable");
    expect(h.sent[0]!.toString()).not.toContain("<secret>");
  });

  it("never answers results, errors, messages or presences", async () => {
    const h = harness("delivered");
    for (const s of [
      `<iq type='result' id='r' from='localhost' to='push.localhost'/>`,
      `<iq type='error' id='e' from='localhost' to='push.localhost'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
      `<message from='localhost' to='push.localhost'><body>hi</body></message>`,
      `<presence from='localhost' to='push.localhost'/>`,
    ]) {
      await h.router.handle(parseXml(s));
    }
    expect(h.sent).toHaveLength(0);
  });

  it("answers an IQ with no payload or two payloads with modify/bad-request", async () => {
    const h = harness("delivered");
    await h.router.handle(parseXml(`<iq type='set' id='a' from='localhost' to='push.localhost'/>`));
    await h.router.handle(parseXml(`<iq type='set' id='b' from='localhost' to='push.localhost'><a xmlns='x'/><b xmlns='y'/></iq>`));
    expect(h.sent.map(errorOf)).toEqual(["modify/bad-request", "modify/bad-request"]);
  });
});
