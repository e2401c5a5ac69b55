import { nodeOf } from "../seed.js";
import { NS } from "./fuzz-world.js";

// Inputs after which the component must close the stream (and reconnect by itself), so each gets a
// connection of its own instead of a place in the generated corpus: XML that is not well-formed, and
// restricted XML (RFC 6120 §11.1: comments, processing instructions, DTDs) together with the inputs that
// used to crash or deafen xmpp.js (test/faults/hostile-stream.test.ts, src/xmpp/stream-guard.ts).

/** [what, the raw text]. */
export type RawInput = [string, string];

export const ILL_FORMED: readonly RawInput[] = [
  [
    "unclosed child ended by its parent's end tag",
    `<iq type='get' id='bad-1' from='localhost' to='push.localhost'><ping xmlns='urn:xmpp:ping'></iq>`,
  ],
  [
    "end tag of an element never opened",
    `<iq type='set' id='bad-2' from='localhost' to='push.localhost'><pubsub xmlns='${NS.pubsub}'></publish>`,
  ],
  [
    "unclosed publish and item",
    `<iq type='set' id='bad-3' from='localhost' to='push.localhost'><pubsub xmlns='${NS.pubsub}'><publish node='${nodeOf(1)}'><item></pubsub></iq>`.replace(
      "</iq>",
      "",
    ),
  ],
  ["stray end tag between stanzas", `</iq>`],
  ["stray end tag inside a stanza", `<message from='localhost' to='push.localhost'></body>`],
  ["overlapping elements", `<iq type='get' id='bad-6' from='localhost' to='push.localhost'><query xmlns='${NS.discoInfo}'><a></query>`],
];

const COMMENTS = ["<!---->", "<!-- fuzz -->", "<!--<iq type='set'/>-->", "<!-- &amp; &#0; ü 😀 -->", "<!--\n-->"];
const PIS = ["<?fuzz?>", "<?fuzz data?>", "<?php echo 1 ?>", "<?xml-stylesheet href='x'?>"];
const ping = `<iq type='get' id='rx' from='localhost' to='push.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`;

export const RESTRICTED: readonly RawInput[] = [
  ...COMMENTS.map((c): RawInput => [`a comment ${JSON.stringify(c)}`, c + ping]),
  ...PIS.map((p): RawInput => [`a processing instruction ${JSON.stringify(p)}`, ping.replace("<ping", `${p}<ping`)]),
  ["a DOCTYPE with entities", `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>${ping}`],
  ["an undefined entity", ping.replace("/>", ">&foo;</ping>")],
  ["a reference to a control character", ping.replace("/>", ">&#x1;</ping>")],
  ["a reference to a lone surrogate", ping.replace("/>", ">&#xD800;</ping>")],
];
