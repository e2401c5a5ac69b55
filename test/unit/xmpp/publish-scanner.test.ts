import type { Element } from "@xmpp/xml";
import { describe, expect, it } from "vitest";
import { parsePublish } from "../../../src/xmpp/parse-publish.js";
import { scanPublish, type ScannedPublish } from "../../../src/xmpp/publish-scanner.js";
import { nextBatch } from "../../support/fuzz/fuzz-generator.js";
import { Rng } from "../../support/fuzz/fuzz-rng.js";
import { CAPTURED_PUBLISHES, capturedText, parseXml } from "../../support/stanzas.js";

// The scanner reads a publish from its text, and may decline anything. What it accepts it must read
// exactly as the stream parser plus parsePublish read it: checked here on every stanza of the fuzz
// corpus (the generator's publishes, commands and other stanzas, mutated and noisily serialised).

const PUBSUB = "http://jabber.org/protocol/pubsub";

/** What the tree path reads from a stanza: a publish IQ set's addressing and publish, or undefined. */
function readByTree(text: string): ScannedPublish | undefined {
  let iq: Element;
  try {
    iq = parseXml(text);
  } catch {
    return undefined;
  }
  if (iq.name !== "iq" || iq.attrs.type !== "set") return undefined;
  const children = iq.getChildElements();
  if (children.length !== 1 || children[0]!.name !== "pubsub" || children[0]!.attrs.xmlns !== PUBSUB) return undefined;
  const { id, from, to } = iq.attrs;
  if (id === undefined || from === undefined || to === undefined) return undefined;
  return { id, from, to, publish: parsePublish(children[0]!) };
}

describe("publish scanner", () => {
  it("reads every captured Prosody and ejabberd publish, as the tree path does", () => {
    for (const name of CAPTURED_PUBLISHES) {
      const text = capturedText(name);
      const scanned = scanPublish(text);
      expect(scanned, name).toBeDefined();
      expect(scanned).toEqual(readByTree(text));
    }
  });

  it("reads what the tree path reads on the fuzz corpus, wherever it does not decline", { timeout: 60_000 }, () => {
    const r = new Rng(0x357_2026);
    const total = 6000;
    let accepted = 0;
    let mutatedAccepted = 0;
    let controls = 0;
    let controlsAccepted = 0;
    for (let generated = 0; generated < total;) {
      for (const c of nextBatch(r, generated, 100, total)) {
        generated += 1;
        const text = c.bytes.toString("utf8");
        const scanned = scanPublish(text);
        if (c.control) controls += 1;
        if (scanned === undefined) continue;
        accepted += 1;
        if (c.control) controlsAccepted += 1;
        else mutatedAccepted += 1;
        expect(scanned, `case ${c.n} (${c.label}): ${text.slice(0, 400)}`).toEqual(readByTree(text));
      }
    }
    // The comparison has teeth: plain and mutated publishes alike were read both ways.
    expect(controlsAccepted).toBe(controls);
    // (seed 0x3572026, 6,000 cases: 982 read, 471 of them mutated)
    expect(mutatedAccepted).toBeGreaterThan(400);
    expect(accepted).toBeGreaterThan(900);
  });

  const publish = (inner: string, iqAttrs = `type='set' id='i' from='example.org' to='push.example.org'`) =>
    `<iq ${iqAttrs}><pubsub xmlns='${PUBSUB}'><publish node='n'><item><notification xmlns='urn:xmpp:push:0'>${inner}</notification></item></publish></pubsub></iq>`;
  const summary = (body: string) =>
    `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field><field var='last-message-body'><value>${body}</value></field></x>`;

  it("decodes the predefined entities in values and attributes", () => {
    const s = scanPublish(
      publish(
        summary("a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;"),
        `type='set' id='&lt;1&gt;' from='example.org' to='push.example.org'`,
      ),
    );
    expect(s?.id).toBe("<1>");
    expect(s && "notification" in s.publish && s.publish.notification.lastMessageBody).toBe(`a & b <c> "d" 'e'`);
  });

  it.each([
    ["a character reference", publish(summary("&#65;"))],
    ["an unknown entity", publish(summary("&nbsp;"))],
    ["a bare ampersand", publish(summary("a & b"))],
    ["CDATA", publish(summary("<![CDATA[x]]>"))],
    ["a prefixed element", publish(`<p:x xmlns:p='jabber:x:data'/>`)],
    ["an unknown element", publish(`<extra xmlns='urn:example'/>`)],
    ["an unknown attribute", publish("", `type='set' id='i' from='example.org' to='push.example.org' extra='1'`)],
    ["a repeated attribute", publish("", `type='set' id='i' id='j' from='example.org' to='push.example.org'`)],
    ["an IQ get", publish("", `type='get' id='i' from='example.org' to='push.example.org'`)],
    ["an IQ without an id", publish("", `type='set' from='example.org' to='push.example.org'`)],
    ["text between elements", publish(`text${summary("b")}`)],
    ["a second form", publish(summary("a") + summary("b"))],
    ["a form in another namespace", publish(summary("a").replace("jabber:x:data", "urn:example"))],
    ["an unquoted attribute", publish("").replace("id='i'", "id=i")],
    ["a '<' in an attribute", publish("").replace("id='i'", "id='<'")],
    [
      "an unknown entity in an attribute it does not read",
      publish("", `type='set' id='i' from='example.org' to='push.example.org' xml:lang='&bogus;'`),
    ],
    [
      "a '<' in an attribute it does not read",
      publish(summary("b").replace("var='last-message-body'", "var='last-message-body' label='a<b'")),
    ],
    ["text after the stanza", publish("") + " "],
    ["a mismatched end tag", publish("").replace("</item>", "</itemx>")],
    ["a message", `<message from='example.org' to='push.example.org'><body>hi</body></message>`],
  ])("declines %s (the tree path reads it)", (_what, text) => {
    expect(scanPublish(text)).toBeUndefined();
  });
});
