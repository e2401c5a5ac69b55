import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import xml, { type Element } from "@xmpp/xml";

const CAPTURED = resolve(import.meta.dirname, "../fixtures/captured");

/** Parses one XML document into an element, the way the component's stream parser would. */
export function parseXml(text: string): Element {
  let root: Element | undefined;
  let error: Error | undefined;
  const parser = new xml.Parser();
  // A stream wrapper, so the stanza arrives as a child element exactly as on a component connection.
  parser.on("element", (el) => (root = el));
  parser.on("error", (err) => (error = err));
  parser.write(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'>${text}`);
  if (error) throw error;
  if (!root) throw new Error("no element parsed");
  return root;
}

/** A publish IQ exactly as Prosody 0.12 or ejabberd 23.01 sent it (captured on loopback), as text. */
export function capturedText(name: string): string {
  return readFileSync(join(CAPTURED, `${name}.xml`), "utf8").trim();
}

/** A publish IQ exactly as Prosody 0.12 or ejabberd 23.01 sent it (captured on loopback). */
export function captured(name: string): Element {
  return parseXml(capturedText(name));
}

export const CAPTURED_PUBLISHES = [
  "prosody-default-body",
  "prosody-default-chatstate",
  "prosody-with-body-sender",
  "ejabberd-default",
  "ejabberd-empty-notification",
  "ejabberd-encrypted-msg",
  "ejabberd-with-body-sender",
] as const;
