import type { Rng } from "./fuzz-rng.js";
import { clip, MARKER } from "./fuzz-serialize.js";

// The odd values the grammar puts into attributes, text and form fields: bidi and combining
// characters, control characters, XML's own special characters, huge strings and invalid bytes. They
// are where parsers, validators and log lines go wrong.

export const UNICODE = [
  "\u202Eevil\u202C",
  "مرحبا بالعالم",
  "שָׁלוֹם",
  "😀👍🏽👨‍👩‍👧‍👦🏳️‍🌈",
  "e\u0301\u0302\u0303\u0304\u0305",
  "Z\u0336\u0322\u031b\u0324a\u0334l\u0335g\u0336o",
  "\uFEFF",
  "\u200B\u200C\u200D\u2060",
  "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  "\uFFFD",
  "日本語テキスト",
  "l\u043Ecalhost",
  "\u0130\u0131ß",
  "\uFFFE\uFFFF",
  "\u{10FFFF}",
];
export const CONTROL = ["\u0000", "\u0001", "\u0008", "\u000B", "\u000C", "\u001B", "\u001F", "\u007F", "\u0085"];

export function hugeString(r: Rng, len: number): string {
  const alphabet = r.pick(["abcdefghijklmnopqrstuvwxyz0123456789", "0123456789abcdef", "&<>'\"; ", " \t\n", "😀é中\u202Eא\u0301", "A"]);
  const chars = [...alphabet];
  let chunk = "";
  for (let i = 0; i < 256; i++) chunk += r.pick(chars);
  return clip(chunk.repeat(Math.ceil(len / chunk.length) + 1), len);
}

export function oddValue(r: Rng): string {
  return r.weighted<() => string>([
    [3, () => ""],
    [2, () => "   \t\n"],
    [3, () => r.pick(UNICODE)],
    [2, () => `a${r.pick(CONTROL)}b`],
    [2, () => `${r.pick(["&", "<", ">", "'", '"', "]]>", "-->", "?>", "&amp;"])}x`],
    [2, () => hugeString(r, r.pick([1025, 4097, 16_384, 65_536]))],
    [2, () => `${MARKER}bytes${MARKER}`],
    [3, () => r.alnum(r.int(1, 40))],
  ])();
}

export const BIG_LEN = [1_000, 4_096, 16_384, 32_768, 65_000];

/** The values a case put in its request that no reply may contain (tokens, wrong secrets). */
export interface Tokens {
  forbidden: string[];
}
