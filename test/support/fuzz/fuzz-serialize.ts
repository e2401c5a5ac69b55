import xml from "@xmpp/xml";
import type { Rng } from "./fuzz-rng.js";
import { isEl, type XEl } from "./fuzz-tree.js";

// A tree to the bytes on the wire, with lexical noise that keeps the meaning (quote styles, character
// and entity references, CDATA, odd whitespace): the server must read the same stanza however it is
// spelled. Invalid UTF-8 goes in through a marker character, as a string cannot hold it.

export const MARKER = "\uE000"; // replaced by invalid UTF-8 bytes on the wire

function legalRef(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

function escapeNoisy(s: string, r: Rng, quote: string | undefined): string {
  if (s.length > 2048) {
    // Long values: plain escaping (a per-character walk over 64 KB values costs more than it finds).
    return s.replace(/[&<>"']/g, (c) =>
      c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === quote ? (c === '"' ? "&quot;" : "&apos;") : c,
    );
  }
  let out = "";
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === "&") out += r.pick(["&amp;", "&#38;", "&#x26;"]);
    else if (ch === "<") out += r.pick(["&lt;", "&#60;", "&#x3C;"]);
    else if (ch === ">") out += r.pick(["&gt;", ">", "&#62;"]);
    else if (ch === quote) out += ch === '"' ? r.pick(["&quot;", "&#34;"]) : r.pick(["&apos;", "&#39;"]);
    else if (ch !== MARKER && legalRef(cp) && r.chance(0.03)) out += r.chance(0.5) ? `&#${cp};` : `&#x${cp.toString(16)};`;
    else out += ch;
  }
  return out;
}

const SPACE = [" ", "  ", "\t", "\n", "\r\n", " \t\n "];

// ltx (the component's parser) drops text that follows a CDATA section up to the next tag, so CDATA
// only ends a text run.

export function serialize(e: XEl, r: Rng, noisy: boolean): string {
  const out: string[] = [];
  // Iterative: a few thousand levels of nesting are part of the grammar. Strings are output as is.
  const stack: Array<XEl | string> = [e];
  while (stack.length > 0) {
    const el = stack.pop()!;
    if (typeof el === "string") {
      out.push(el);
      continue;
    }
    out.push("<", el.name);
    for (const [k, v] of el.attrs) {
      const q = noisy && r.chance(0.5) ? '"' : "'";
      out.push(
        noisy ? r.pick(SPACE) : " ",
        k,
        noisy && r.chance(0.05) ? " = " : "=",
        q,
        noisy ? escapeNoisy(v, r, q) : xml.escapeXML(v),
        q,
      );
    }
    if (noisy && r.chance(0.1)) out.push(r.pick(SPACE));
    if (el.children.length === 0 && (!noisy || r.chance(0.7))) {
      out.push("/>");
      continue;
    }
    out.push(">");
    // Adjacent strings are one text run.
    const children: Array<XEl | string> = [];
    for (const c of el.children) {
      const last = children[children.length - 1];
      if (typeof c === "string" && typeof last === "string") children[children.length - 1] = last + c;
      else children.push(c);
    }
    const seq: Array<XEl | string> = [];
    for (const c of children) {
      if (isEl(c)) seq.push(c);
      else if (c.length === 0) continue;
      else if (noisy && r.chance(0.15) && !c.includes("]]>")) seq.push(`<![CDATA[${c}]]>`);
      else if (noisy && r.chance(0.1) && c.length > 1 && !c.includes("]]>")) {
        const at = safeCut(c, r.int(1, c.length - 1));
        seq.push(escapeNoisy(c.slice(0, at), r, undefined) + `<![CDATA[${c.slice(at)}]]>`);
      } else
        seq.push(noisy ? escapeNoisy(c, r, undefined) : c.replace(/[&<>]/g, (ch) => (ch === "&" ? "&amp;" : ch === "<" ? "&lt;" : "&gt;")));
    }
    seq.push(`</${el.name}${noisy && r.chance(0.05) ? " " : ""}>`);
    for (let i = seq.length - 1; i >= 0; i--) stack.push(seq[i]!);
  }
  return out.join("");
}

/** An index that does not split a surrogate pair. */
function safeCut(s: string, at: number): number {
  const c = s.charCodeAt(at - 1);
  return c >= 0xd800 && c <= 0xdbff ? at + 1 : at;
}

export function clip(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, safeCut(s, n));
}

const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe],
  [0x80],
  [0xbf, 0x80],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xc3],
  [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80],
];

/** The stanza's bytes, the marker character replaced by invalid UTF-8 (the server decodes it to U+FFFD). */
export function toBytes(s: string, r: Rng): Buffer {
  const parts = s.split(MARKER);
  if (parts.length === 1) return Buffer.from(s, "utf8");
  const bufs: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) bufs.push(Buffer.from(r.pick(INVALID_UTF8)));
    bufs.push(Buffer.from(p, "utf8"));
  });
  return Buffer.concat(bufs);
}
