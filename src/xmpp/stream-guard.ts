import { StringDecoder } from "node:string_decoder";
import type { Component } from "@xmpp/component-core";
import type { Logger } from "../observability/logger.js";
import { createStanzaFramer } from "./stanza-framer.js";

// Hardening of xmpp.js 0.13's stream input, which a hostile or broken peer can crash or wedge
// (found by test/faults/fuzz.test.ts):
// - ltx throws from inside the socket's data handler on a bad character reference (&#x1;) or on a
//   second tag mismatch in one read: an uncaught exception ends the process;
// - a DOCTYPE, comment or processing instruction whose end never comes (or is split across reads)
//   makes ltx swallow every later stanza: the component goes deaf without noticing;
// - each read is decoded alone (data.toString), so a character split across reads is corrupted;
// - text between stanzas (whitespace keepalives) is appended to the stream's root element forever;
// - after the server closes its stream (</stream:stream>) the socket stays open, and the next data
//   dereferences the detached parser.
// - a stanza has no size limit: the parser builds it in memory, so one huge stanza (60 MB) exhausts the
//   heap and ends the process, and a smaller one (20 MB) holds the stream for seconds.
// RFC 6120 §11.1 forbids comments, processing instructions and DTDs in a stream, so refusing them
// (restricted-xml) loses nothing. A stanza over the size cap gets policy-violation (RFC 6120 §4.9.3.14).
// Every failure ends the connection; the reconnect loop does the rest.

interface ConnectionInternals {
  _onData(data: Buffer | string): void;
  parser: { root: { children: unknown[] } | null; cursor: unknown } | null;
  socket: { write(s: string): void; end(s: string): void; destroy(): void } | null;
}

// Anything beginning with "<!" or "<?" once the stream is open, except a CDATA section.
const RESTRICTED = /<\?|<!(?!\[CDATA\[)/;
const LOOKBEHIND = 8; // "<![CDATA[" minus one: enough to judge a construct split across reads
const CLOSE_GRACE_MS = 500;

/** Offered each whole top-level stanza's text before the parser sees it; true when it took the stanza. */
export type StanzaClaim = (text: string) => boolean;

export function guardStreamInput(entity: Component, log: Logger, maxStanzaBytes: number, claim: StanzaClaim): void {
  const internals = entity as unknown as ConnectionInternals;
  const parse = internals._onData.bind(entity);
  let decoder = new StringDecoder("utf8");
  let framer = createStanzaFramer();
  let streamOpen = false;
  let carry = "";
  // Bytes of the stanza being read, counted per read: a read that completes a stanza starts the count
  // again at that read's size (the next stanza began inside it), so a stanza is over-counted by at most
  // one read (64 KiB), and a steady flow of small stanzas that never leaves a read between two of them
  // is never mistaken for one large stanza.
  let stanzaBytes = 0;
  let stanzasCompleted = 0;
  let failed = false;
  entity.on("element", () => {
    stanzasCompleted += 1;
  });

  const fail = (condition: "bad-format" | "restricted-xml" | "policy-violation", detail: string) => {
    log.warn(
      { condition, detail: detail.slice(0, 120) },
      "the XMPP server sent XML we cannot accept; closing the connection (we reconnect)",
    );
    const socket = internals.socket;
    failed = true;
    // The error leaves before the connection closes: end() sends it ahead of our FIN. Destroying at
    // once would reset the connection while the peer may still be sending (a flood, a huge stanza),
    // and the peer's stack can drop our last words with it; we only destroy if the peer does not
    // close within the grace period. What it sends meanwhile is dropped unread.
    try {
      socket?.end(`<stream:error><${condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
    } catch {
      // the socket is already gone
    }
    setTimeout(() => socket?.destroy(), CLOSE_GRACE_MS).unref();
  };

  entity.on("connect", () => {
    decoder = new StringDecoder("utf8");
    framer = createStanzaFramer();
    failed = false;
    streamOpen = false;
    carry = "";
    stanzaBytes = 0;
  });
  entity.on("open", () => {
    streamOpen = true;
  });
  // The server closed its stream: close the socket too, so the reconnect loop starts.
  entity.on("close", () => internals.socket?.destroy());

  const tooLarge = () => fail("policy-violation", `a stanza larger than ${maxStanzaBytes} bytes (component.maxStanzaBytes)`);

  const parseSafely = (text: string): boolean => {
    try {
      parse(text);
      return true;
    } catch (err) {
      fail("bad-format", (err as Error).message);
      return false;
    }
  };

  internals._onData = (data: Buffer | string) => {
    if (failed || internals.parser === null) return; // after a failure, until the socket is gone
    const text = typeof data === "string" ? data : decoder.write(data);
    if (streamOpen) {
      const window = carry + text;
      const m = RESTRICTED.exec(window);
      // A "<!" too close to the end may still become a CDATA section: judge it with the next read.
      if (m && !(m[0] === "<!" && window.length - m.index < LOOKBEHIND + 1 && "<![CDATA[".startsWith(window.slice(m.index)))) {
        fail("restricted-xml", m[0] === "<?" ? "processing instruction" : "comment or DTD");
        return;
      }
      carry = window.slice(-LOOKBEHIND);
    }
    const completedBefore = stanzasCompleted;
    // The parser gets all the text it always got, minus the stanzas claimed whole.
    framer.write(text, (piece, stanza) => (stanza && claim(piece)) || parseSafely(piece));
    if (failed) return;
    // A stanza held back until its end arrives counts against the cap like one the parser holds.
    if (framer.pendingLength * 3 > maxStanzaBytes && Buffer.byteLength(framer.pendingText()) > maxStanzaBytes) {
      tooLarge();
      return;
    }
    // Between stanzas the parser's cursor is the stream root, which collects any text (keepalive
    // whitespace) as children nobody reads: drop it.
    const parser = internals.parser;
    if (parser?.root && parser.cursor === parser.root) {
      parser.root.children.length = 0;
      stanzaBytes = 0;
      return;
    }
    // Inside a stanza: the parser holds at most one read (64 KiB) beyond the cap before we give up on it.
    const readBytes = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    stanzaBytes = stanzasCompleted > completedBefore ? readBytes : stanzaBytes + readBytes;
    if (stanzaBytes > maxStanzaBytes) tooLarge();
  };
}
