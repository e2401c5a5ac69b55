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

// Character codes, here and not imported from a module shared with the other XML reader: imported
// bindings in these per-character loops made framing and scanning a publish ~15 % slower (measured).
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

// The attributes of the start tag just read, as offsets into the text: no strings are made for the
// names, and a value only when it is asked for. Shared by every scan (a scan is synchronous and never
// re-entered), so reading a tag allocates nothing.
const MAX_ATTRS = 16;
const attrNameStart = new Int32Array(MAX_ATTRS);
const attrNameEnd = new Int32Array(MAX_ATTRS);
const attrValueStart = new Int32Array(MAX_ATTRS);
const attrValueEnd = new Int32Array(MAX_ATTRS);
let attrCount = 0;

const FORM_ATTRS = ["xmlns", "type"] as const;
const FIELD_ATTRS = ["var", "type", "label"] as const;
const ENCRYPTED_ATTRS = ["xmlns", "iv", "type"] as const;
const XMLNS_ONLY = ["xmlns"] as const;
const NO_ATTRS = [] as const;
const NO_VALUES: readonly string[] = [];

class Scanner {
  private i = 0;
  constructor(private readonly s: string) {}

  iq(): ScannedPublish {
    if (this.open("iq", ["id", "from", "to", "type", "xmlns", "xml:lang"])) decline();
    const id = this.attr("id");
    const from = this.attr("from");
    const to = this.attr("to");
    const xmlns = this.attr("xmlns");
    if (this.attr("type") !== "set" || id === undefined || from === undefined || to === undefined) decline();
    if (xmlns !== undefined && xmlns !== "jabber:component:accept") decline();
    this.space();
    const parts = this.pubsub();
    this.space();
    this.close("iq");
    if (this.i !== this.s.length) decline();
    return { id, from, to, publish: publishFromParts(parts) };
  }

  private pubsub(): PublishParts {
    if (this.open("pubsub", XMLNS_ONLY) || this.attr("xmlns") !== NS.pubsub) decline();
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
    return { node: publish.node, optionsForm, summary: publish.summary, encrypted: publish.encrypted, priorityTag: publish.priorityTag };
  }

  private publish(): Omit<PublishParts, "optionsForm"> {
    const empty = this.open("publish", ["node"]);
    const node = this.attr("node");
    let summary: PublishParts["summary"];
    let encrypted: PublishParts["encrypted"];
    let priorityTag: PublishParts["priorityTag"];
    if (!empty) {
      this.space();
      if (!this.atClose()) {
        if (!this.open("item", ["id"])) {
          this.space();
          if (!this.atClose()) {
            ({ summary, encrypted, priorityTag } = this.notification());
            this.space();
          }
          this.close("item");
        }
        this.space();
      }
      this.close("publish");
    }
    return { node, summary, encrypted, priorityTag };
  }

  private notification(): Omit<PublishParts, "node" | "optionsForm"> {
    const empty = this.open("notification", XMLNS_ONLY);
    if (this.attr("xmlns") !== NS.push) decline();
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
    const empty = this.open("encrypted", ENCRYPTED_ATTRS);
    if (this.attr("xmlns") !== NS.tigaseEncrypt) decline();
    const iv = this.attr("iv");
    const type = this.attr("type");
    return { iv, type, text: empty ? "" : this.textThenClose("encrypted") };
  }

  /** An element holding text only, in the given namespace. */
  private textElement(name: string, ns: string): string {
    const empty = this.open(name, XMLNS_ONLY);
    if (this.attr("xmlns") !== ns) decline();
    return empty ? "" : this.textThenClose(name);
  }

  private publishOptions(): DataForm | undefined {
    if (this.open("publish-options", NO_ATTRS)) return undefined;
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
    const empty = this.open("x", FORM_ATTRS);
    if (this.attr("xmlns") !== NS.dataForms) decline();
    const type = this.attr("type") ?? "";
    // Every field's values in document order; a field without any shares one empty array.
    const fields = new Map<string, readonly string[]>();
    if (!empty) {
      for (;;) {
        this.space();
        if (this.atClose()) break;
        const fieldEmpty = this.open("field", FIELD_ATTRS);
        const name = this.attr("var");
        const named = name !== undefined && name !== "";
        if (named && !fields.has(name)) fields.set(name, NO_VALUES);
        if (fieldEmpty) continue;
        for (;;) {
          this.space();
          if (this.atClose()) break;
          // <value/> is an empty value; anything but values in a field is not ours to read.
          const value = this.open("value", NO_ATTRS) ? "" : this.textThenClose("value");
          if (named) {
            const values = fields.get(name)!;
            if (values === NO_VALUES) fields.set(name, [value]);
            else (values as string[]).push(value);
          }
        }
        this.close("field");
      }
      this.close("x");
    }
    const formType = fields.get("FORM_TYPE")?.[0];
    return formType !== undefined ? { type, formType, fields } : { type, fields };
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

  /**
   * Reads the start tag <name …> or <name …/>; true when it was empty (self-closing). Its attributes
   * must be among `allowed`, each at most once; attr() reads them.
   */
  private open(name: string, allowed: readonly string[]): boolean {
    if (!this.startsTag(name)) decline();
    const s = this.s;
    let i = this.i + 1 + name.length;
    attrCount = 0;
    for (;;) {
      const before = i;
      while (i < s.length && isSpace(s.charCodeAt(i))) i++;
      const c = s.charCodeAt(i);
      if (c === GT || c === SLASH) {
        if (c === SLASH && s.charCodeAt(i + 1) !== GT) decline();
        this.i = c === GT ? i + 1 : i + 2;
        return c === SLASH;
      }
      // An attribute: a space before it, then name="value" or name='value'.
      if (i === before || attrCount === MAX_ATTRS) decline();
      const nameStart = i;
      while (i < s.length && isNameChar(s.charCodeAt(i))) i++;
      if (i === nameStart || !this.nameIn(nameStart, i, allowed)) decline();
      for (let k = 0; k < attrCount; k++) if (this.sameName(attrNameStart[k]!, attrNameEnd[k]!, nameStart, i)) decline();
      attrNameStart[attrCount] = nameStart;
      attrNameEnd[attrCount] = i;
      while (i < s.length && isSpace(s.charCodeAt(i))) i++;
      if (s.charCodeAt(i) !== EQ) decline();
      i++;
      while (i < s.length && isSpace(s.charCodeAt(i))) i++;
      const quote = s.charCodeAt(i);
      if (quote !== QUOT && quote !== APOS) decline();
      const valueEnd = s.indexOf(quote === QUOT ? '"' : "'", i + 1);
      if (valueEnd === -1) decline();
      // Every value must be one the parser would take, read or not (it refuses a bad entity anywhere).
      this.checkText(i + 1, valueEnd);
      attrValueStart[attrCount] = i + 1;
      attrValueEnd[attrCount] = valueEnd;
      attrCount++;
      i = valueEnd + 1;
    }
  }

  /** The value of the last start tag's attribute `name`, decoded; undefined when it has none. */
  private attr(name: string): string | undefined {
    for (let k = 0; k < attrCount; k++) {
      const start = attrNameStart[k]!;
      if (attrNameEnd[k]! - start === name.length && this.s.startsWith(name, start))
        return this.decode(attrValueStart[k]!, attrValueEnd[k]!);
    }
    return undefined;
  }

  private nameIn(start: number, end: number, names: readonly string[]): boolean {
    for (const n of names) if (n.length === end - start && this.s.startsWith(n, start)) return true;
    return false;
  }

  private sameName(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
    if (aEnd - aStart !== bEnd - bStart) return false;
    for (let k = 0; k < aEnd - aStart; k++) if (this.s.charCodeAt(aStart + k) !== this.s.charCodeAt(bStart + k)) return false;
    return true;
  }

  /** The text up to the next tag, which must be </name>. */
  private textThenClose(name: string): string {
    const end = this.s.indexOf("<", this.i);
    if (end === -1) decline();
    this.checkText(this.i, end);
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

  /** Declines text or an attribute value holding "<", or "&" other than one of the five predefined entities. */
  private checkText(start: number, end: number): void {
    const s = this.s;
    const lt = s.indexOf("<", start);
    if (lt !== -1 && lt < end) decline();
    for (let amp = s.indexOf("&", start); amp !== -1 && amp < end; amp = s.indexOf("&", amp + 1)) {
      const semi = s.indexOf(";", amp);
      if (semi === -1 || semi >= end || entityLength(s, amp + 1, semi) === 0) decline();
    }
  }

  /** Text or an attribute value between start and end (checked), with the five predefined entities replaced. */
  private decode(start: number, end: number): string {
    const s = this.s;
    let amp = s.indexOf("&", start);
    if (amp === -1 || amp >= end) return s.slice(start, end);
    let out = "";
    let from = start;
    while (amp !== -1 && amp < end) {
      const semi = s.indexOf(";", amp);
      out += s.slice(from, amp) + ENTITY_TEXT[entityLength(s, amp + 1, semi)]!.get(s.slice(amp + 1, semi))!;
      from = semi + 1;
      amp = s.indexOf("&", from);
    }
    return out + s.slice(from, end);
  }
}

// The five predefined entities, by the length of their name (no others are accepted).
const ENTITY_TEXT: ReadonlyArray<ReadonlyMap<string, string> | undefined> = [
  undefined,
  undefined,
  new Map([
    ["lt", "<"],
    ["gt", ">"],
  ]),
  new Map([["amp", "&"]]),
  new Map([
    ["quot", '"'],
    ["apos", "'"],
  ]),
];

/** The length of the entity name between start and end when it is a predefined one, else 0. */
function entityLength(s: string, start: number, end: number): number {
  const n = end - start;
  const names = ENTITY_TEXT[n];
  if (names === undefined) return 0;
  for (const name of names.keys()) if (s.startsWith(name, start)) return n;
  return 0;
}

/** Attribute-name characters we accept: printable ASCII but for the ones that end a name or a tag. */
function isNameChar(c: number): boolean {
  return c > 32 && c < 127 && c !== EQ && c !== GT && c !== LT && c !== SLASH && c !== QUOT && c !== APOS && c !== AMP;
}
