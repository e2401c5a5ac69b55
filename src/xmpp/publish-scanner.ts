import type { DataForm } from "./data-form.js";
import { NS } from "./namespaces.js";
import { isOptionsForm, isSummaryForm, publishFromParts, type ParsedPublish, type PublishParts } from "./parse-publish.js";

// Reads a publish IQ from its text, without building an element tree. Nearly every stanza a push
// service receives is a publish of one shape (test/fixtures/captured/*.xml); building its ~20 elements
// with ltx, only to read six values out of them, was the largest part of the memory allocated per push
// (and so of the garbage collection that sets the p99). No XML library reads a fixed shape without a
// tree, so this is our own.
//
// It accepts only a strict subset of XML it understands completely, and declines (undefined) anything
// else: then the stanza goes through the stream parser and parsePublish as before, so what it declines
// costs time, never behaviour. It declines on prefixed names, namespace declarations other than the
// expected xmlns, unknown elements or attributes, repeated elements, text where none belongs, comments,
// CDATA, character references, and any entity but the five predefined ones. Where it accepts, the parts
// it reads are the ones parsePublish reads from the tree (test/unit/xmpp/publish-scanner.test.ts checks
// that on the fuzz corpus), and publishFromParts judges them for both.

/** A publish IQ read from its text: its addressing, and the publish (or what is wrong with it). */
export interface ScannedPublish {
  readonly id: string;
  /** The sender: the user's server. */
  readonly from: string;
  /** Our component's address, as the server wrote it. */
  readonly to: string;
  readonly publish: ParsedPublish | { readonly error: string };
}

// Character codes.
const LT = 60; // <
const GT = 62; // >
const SLASH = 47; // /
const EQ = 61; // =
const QUOT = 34; // "
const APOS = 39; // '
const AMP = 38; // &

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

/** Reads one publish IQ (the whole text of one top-level stanza); undefined when it is not one we read. */
export function scanPublish(text: string): ScannedPublish | undefined {
  if (!text.startsWith("<iq")) return undefined;
  try {
    return new Scanner(text).iq();
  } catch (err) {
    if (err === DECLINED) return undefined;
    throw err;
  }
}

const DECLINED = new Error("declined");
function decline(): never {
  throw DECLINED;
}

type Attrs = (name: string, value: string) => void;

class Scanner {
  private i = 0;
  constructor(private readonly s: string) {}

  iq(): ScannedPublish {
    let id: string | undefined;
    let from: string | undefined;
    let to: string | undefined;
    let type: string | undefined;
    const empty = this.open("iq", (name, value) => {
      if (name === "id") id = value;
      else if (name === "from") from = value;
      else if (name === "to") to = value;
      else if (name === "type") type = value;
      else if (name === "xmlns") {
        if (value !== "jabber:component:accept") decline();
      } else if (name !== "xml:lang") decline();
    });
    if (empty || type !== "set" || id === undefined || from === undefined || to === undefined) decline();
    this.space();
    const parts = this.pubsub();
    this.space();
    this.close("iq");
    if (this.i !== this.s.length) decline();
    return { id, from, to, publish: publishFromParts(parts) };
  }

  private pubsub(): PublishParts {
    let xmlns: string | undefined;
    if (this.open("pubsub", (name, value) => (name === "xmlns" ? (xmlns = value) : decline()))) decline();
    if (xmlns !== NS.pubsub) decline();
    let publish: Omit<PublishParts, "optionsForm"> | undefined;
    let optionsForm: DataForm | undefined;
    let sawOptions = false;
    for (;;) {
      this.space();
      if (this.atClose()) break;
      if (this.startsTag("publish") && publish === undefined) publish = this.publish();
      else if (this.startsTag("publish-options") && !sawOptions) {
        sawOptions = true;
        optionsForm = this.publishOptions();
      } else decline();
    }
    this.close("pubsub");
    if (publish === undefined) decline();
    return { ...publish, optionsForm };
  }

  private publish(): Omit<PublishParts, "optionsForm"> {
    let node: string | undefined;
    const nothing = { summary: undefined, encrypted: undefined, priorityTag: undefined };
    if (this.open("publish", (name, value) => (name === "node" ? (node = value) : decline()))) return { node, ...nothing };
    this.space();
    let found: Omit<PublishParts, "node" | "optionsForm"> = nothing;
    if (!this.atClose()) {
      const itemEmpty = this.open("item", (name) => name === "id" || decline());
      if (!itemEmpty) {
        this.space();
        if (!this.atClose()) {
          found = this.notification();
          this.space();
        }
        this.close("item");
      }
      this.space();
    }
    this.close("publish");
    return { node, ...found };
  }

  private notification(): Omit<PublishParts, "node" | "optionsForm"> {
    let xmlns: string | undefined;
    const empty = this.open("notification", (name, value) => (name === "xmlns" ? (xmlns = value) : decline()));
    if (xmlns !== NS.push) decline();
    let form: DataForm | undefined;
    let encrypted: PublishParts["encrypted"];
    let priorityTag: string | undefined;
    if (!empty) {
      for (;;) {
        this.space();
        if (this.atClose()) break;
        if (this.startsTag("x") && form === undefined) form = this.form();
        else if (this.startsTag("encrypted") && encrypted === undefined) encrypted = this.encrypted();
        else if (this.startsTag("priority") && priorityTag === undefined) priorityTag = this.textElement("priority", NS.tigasePriority);
        else decline();
      }
      this.close("notification");
    }
    return { summary: form && isSummaryForm(form) ? form : undefined, encrypted, priorityTag };
  }

  private encrypted(): NonNullable<PublishParts["encrypted"]> {
    let xmlns: string | undefined;
    let iv: string | undefined;
    let type: string | undefined;
    const empty = this.open("encrypted", (name, value) => {
      if (name === "xmlns") xmlns = value;
      else if (name === "iv") iv = value;
      else if (name === "type") type = value;
      else decline();
    });
    if (xmlns !== NS.tigaseEncrypt) decline();
    return { iv, type, text: empty ? "" : this.textThenClose("encrypted") };
  }

  /** An element holding text only, in the given namespace. */
  private textElement(name: string, ns: string): string {
    let xmlns: string | undefined;
    const empty = this.open(name, (attr, value) => (attr === "xmlns" ? (xmlns = value) : decline()));
    if (xmlns !== ns) decline();
    return empty ? "" : this.textThenClose(name);
  }

  private publishOptions(): DataForm | undefined {
    if (this.open("publish-options", () => decline())) return undefined;
    this.space();
    let form: DataForm | undefined;
    if (!this.atClose()) {
      if (!this.startsTag("x")) decline();
      form = this.form();
      this.space();
    }
    this.close("publish-options");
    return form && isOptionsForm(form) ? form : undefined;
  }

  /** A jabber:x:data form of fields with values (XEP-0004), read like data-form.ts's parseForm. */
  private form(): DataForm {
    let xmlns: string | undefined;
    let type = "";
    const empty = this.open("x", (name, value) => {
      if (name === "xmlns") xmlns = value;
      else if (name === "type") type = value;
      else decline();
    });
    if (xmlns !== NS.dataForms) decline();
    const fields = new Map<string, string[]>();
    if (!empty) {
      for (;;) {
        this.space();
        if (this.atClose()) break;
        if (!this.startsTag("field")) decline();
        let name: string | undefined;
        const fieldEmpty = this.open("field", (attr, value) => {
          if (attr === "var") name = value;
          else if (attr !== "type" && attr !== "label") decline();
        });
        let values: string[] | undefined;
        if (name !== undefined && name !== "") {
          values = fields.get(name);
          if (values === undefined) fields.set(name, (values = []));
        }
        if (fieldEmpty) continue;
        for (;;) {
          this.space();
          if (this.atClose()) break;
          // <value/> is an empty value; anything but values in a field is not ours to read.
          const v = this.open("value", () => decline()) ? "" : this.textThenClose("value");
          values?.push(v);
        }
        this.close("field");
      }
      this.close("x");
    }
    const formType = fields.get("FORM_TYPE")?.[0];
    return { type, ...(formType !== undefined ? { formType } : {}), fields };
  }

  // ---- lexical level ----

  private space(): void {
    const s = this.s;
    while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
  }

  /** At "</". */
  private atClose(): boolean {
    return this.s.charCodeAt(this.i) === LT && this.s.charCodeAt(this.i + 1) === SLASH;
  }

  /** At "<name" followed by a space, "/" or ">". */
  private startsTag(name: string): boolean {
    const s = this.s;
    const end = this.i + 1 + name.length;
    if (s.charCodeAt(this.i) !== LT || !s.startsWith(name, this.i + 1)) return false;
    const c = s.charCodeAt(end);
    return isSpace(c) || c === SLASH || c === GT;
  }

  /** Reads the start tag <name …> or <name …/>, each attribute to `attrs`; true when it was empty (self-closing). */
  private open(name: string, attrs: Attrs): boolean {
    if (!this.startsTag(name)) decline();
    const s = this.s;
    let i = this.i + 1 + name.length;
    const seen: string[] = [];
    for (;;) {
      const before = i;
      while (i < s.length && isSpace(s.charCodeAt(i))) i++;
      const c = s.charCodeAt(i);
      if (c === GT) {
        this.i = i + 1;
        return false;
      }
      if (c === SLASH) {
        if (s.charCodeAt(i + 1) !== GT) decline();
        this.i = i + 2;
        return true;
      }
      // An attribute: a space before it, then name="value" or name='value'.
      if (i === before) decline();
      const nameStart = i;
      while (i < s.length && isNameChar(s.charCodeAt(i))) i++;
      if (i === nameStart) decline();
      const attr = s.slice(nameStart, i);
      if (seen.includes(attr)) decline();
      seen.push(attr);
      while (i < s.length && isSpace(s.charCodeAt(i))) i++;
      if (s.charCodeAt(i) !== EQ) decline();
      i++;
      while (i < s.length && isSpace(s.charCodeAt(i))) i++;
      const quote = s.charCodeAt(i);
      if (quote !== QUOT && quote !== APOS) decline();
      const valueEnd = s.indexOf(quote === QUOT ? '"' : "'", i + 1);
      if (valueEnd === -1) decline();
      attrs(attr, this.decode(i + 1, valueEnd));
      i = valueEnd + 1;
    }
  }

  /** The text up to the next tag, which must be </name>. */
  private textThenClose(name: string): string {
    const end = this.s.indexOf("<", this.i);
    if (end === -1) decline();
    const text = this.decode(this.i, end);
    this.i = end;
    this.close(name);
    return text;
  }

  private close(name: string): void {
    const s = this.s;
    if (!this.atClose() || !s.startsWith(name, this.i + 2)) decline();
    let i = this.i + 2 + name.length;
    while (i < s.length && isSpace(s.charCodeAt(i))) i++;
    if (s.charCodeAt(i) !== GT) decline();
    this.i = i + 1;
  }

  /** Text or an attribute value between start and end, with the five predefined entities replaced; "<" or any other reference declines. */
  private decode(start: number, end: number): string {
    const s = this.s;
    const lt = s.indexOf("<", start);
    if (lt !== -1 && lt < end) decline();
    let amp = s.indexOf("&", start);
    if (amp === -1 || amp >= end) return s.slice(start, end);
    let out = "";
    let from = start;
    while (amp !== -1 && amp < end) {
      out += s.slice(from, amp);
      const semi = s.indexOf(";", amp);
      if (semi === -1 || semi >= end) decline();
      out += entity(s.slice(amp + 1, semi));
      from = semi + 1;
      amp = s.indexOf("&", from);
    }
    return out + s.slice(from, end);
  }
}

function entity(name: string): string {
  switch (name) {
    case "amp":
      return "&";
    case "lt":
      return "<";
    case "gt":
      return ">";
    case "quot":
      return '"';
    case "apos":
      return "'";
    default:
      return decline();
  }
}

/** Attribute-name characters we accept: printable ASCII but for the ones that end a name or a tag. */
function isNameChar(c: number): boolean {
  return c > 32 && c < 127 && c !== EQ && c !== GT && c !== LT && c !== SLASH && c !== QUOT && c !== APOS && c !== AMP;
}
