import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import xml, { type Element } from "@xmpp/xml";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Database } from "../../src/store/database.js";
import { PRODUCTION_NODE_OPTIONS, startAppProcess, type AppProcess } from "../support/app-process.js";
import { parseStanza, startFakeXmppServer, type FakeXmppServer } from "../support/fake-xmpp-server.js";
import type { PrivatePostgres } from "../support/private-postgres.js";
import { BENCH_SECRET, nodeOf, seedRegistrations } from "../support/seed.js";
import { freePort } from "../support/servers/xmpp-servers.js";
import { publishIq, report, rssMb, startPrivateDatabase } from "./fault-helpers.js";
import { waitFor } from "../support/wait-for.js";

// Hostile input on a live component connection: ten thousand stanzas generated from a grammar of
// mutations of real publishes (test/fixtures/captured, publishIq) and of every registration dialect's
// commands, written raw to the component's socket by the fake XMPP server, against the app server
// process with a real Postgres seeded with registrations (log provider). Deterministic: the seed is
// printed, XMPP_PUSH_FUZZ_SEED replays a run (XMPP_PUSH_FUZZ_CASES changes the count).
//
// Checked for every case: the process stays up on one connection; every IQ get/set gets exactly one
// reply with its id (result/error never answered), every error has a valid type and a stanza-error
// condition and echoes nothing of the request; a publish gets `result` only when it names a seeded
// node with the right secret and comes from the served domain; a registration succeeds only for a
// served domain; memory stays flat. Then, one connection each, XML that is not well-formed: the
// component closes the stream, reconnects by itself, and a valid publish works again.
//
// Comments, processing instructions and DTDs are restricted XML in a stream (RFC 6120 §11.1): the
// component closes the stream on them (restricted-xml) and reconnects, so they are checked in a phase
// of their own, one connection each, like the ill-formed XML; so are the inputs that used to crash or
// deafen xmpp.js (see test/faults/hostile-stream.test.ts and src/xmpp/stream-guard.ts).

const SEED = Number(process.env.XMPP_PUSH_FUZZ_SEED ?? 0x357_2026) >>> 0;
const CASES = Number(process.env.XMPP_PUSH_FUZZ_CASES ?? 10_000);
const SEEDED = 300;
const WARMUP = 1500;
const BATCH = 100;
const RSS_GROWTH_LIMIT_MB = 40;

const NS = {
  stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
  pubsub: "http://jabber.org/protocol/pubsub",
  publishOptions: "http://jabber.org/protocol/pubsub#publish-options",
  push: "urn:xmpp:push:0",
  summary: "urn:xmpp:push:summary",
  data: "jabber:x:data",
  commands: "http://jabber.org/protocol/commands",
  discoInfo: "http://jabber.org/protocol/disco#info",
  discoItems: "http://jabber.org/protocol/disco#items",
  ping: "urn:xmpp:ping",
  version: "jabber:iq:version",
  appserver: "https://github.com/tmolitor-stud-tu/mod_push_appserver/#",
};
const ERROR_TYPES = new Set(["cancel", "wait", "modify", "auth"]);
const SEEDED_NODES = new Set(Array.from({ length: SEEDED }, (_, i) => nodeOf(i)));
const TIGASE_PROVIDER = "tigase:messenger:apns:1";

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32).

class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  float(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** lo..hi inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.float() * xs.length)]!;
  }
  weighted<T>(entries: ReadonlyArray<readonly [number, T]>): T {
    const total = entries.reduce((s, [w]) => s + w, 0);
    let x = this.float() * total;
    for (const [w, v] of entries) {
      if ((x -= w) < 0) return v;
    }
    return entries[entries.length - 1]![1];
  }
  hex(n: number): string {
    let s = "";
    while (s.length < n) s += Math.floor(this.float() * 16).toString(16);
    return s;
  }
  alnum(n: number): string {
    const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let s = "";
    while (s.length < n) s += abc[Math.floor(this.float() * abc.length)];
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// A small mutable XML tree; values are the decoded strings the server's parser will see.

interface XEl {
  name: string;
  attrs: Array<[string, string]>;
  children: Array<XEl | string>;
}

const isEl = (c: XEl | string): c is XEl => typeof c !== "string";

function x(name: string, attrs: Record<string, string | undefined> = {}, ...children: Array<XEl | string | undefined>): XEl {
  return {
    name,
    attrs: Object.entries(attrs).filter((e): e is [string, string] => e[1] !== undefined),
    children: children.filter((c): c is XEl | string => c !== undefined),
  };
}

/** Attribute value as the parser keeps it (the last one of a repeated name wins). */
function attr(e: XEl, name: string): string | undefined {
  let v: string | undefined;
  for (const [k, val] of e.attrs) if (k === name) v = val;
  return v;
}

function setAttr(e: XEl, name: string, value: string | undefined): void {
  e.attrs = e.attrs.filter(([k]) => k !== name);
  if (value !== undefined) e.attrs.push([name, value]);
}

function text(e: XEl): string {
  return e.children.filter((c): c is string => typeof c === "string").join("");
}

function elementsOf(root: XEl): Array<{ el: XEl; parent: XEl | undefined }> {
  const out: Array<{ el: XEl; parent: XEl | undefined }> = [];
  const stack: Array<{ el: XEl; parent: XEl | undefined }> = [{ el: root, parent: undefined }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    out.push(item);
    for (const c of item.el.children) if (isEl(c)) stack.push({ el: c, parent: item.el });
  }
  return out;
}

function clone(e: XEl): XEl {
  const copy = (src: XEl): XEl => ({ name: src.name, attrs: src.attrs.map(([k, v]) => [k, v] as [string, string]), children: [] });
  const root = copy(e);
  const stack: Array<[XEl, XEl]> = [[e, root]];
  while (stack.length > 0) {
    const [src, dst] = stack.pop()!;
    for (const c of src.children) {
      if (!isEl(c)) {
        dst.children.push(c);
        continue;
      }
      const d = copy(c);
      dst.children.push(d);
      stack.push([c, d]);
    }
  }
  return root;
}

function fromElement(e: Element): XEl {
  return {
    name: e.name,
    attrs: Object.entries(e.attrs).filter((a): a is [string, string] => typeof a[1] === "string"),
    children: e.children.map((c) => (typeof c === "string" ? c : fromElement(c))),
  };
}

// ---------------------------------------------------------------------------------------------
// Serialisation with lexical noise that keeps the meaning: quote styles, character and entity
// references, CDATA, comments and processing instructions between nodes, odd whitespace.

const MARKER = "\uE000"; // replaced by invalid UTF-8 bytes on the wire

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

const COMMENTS = ["<!---->", "<!-- fuzz -->", "<!--<iq type='set'/>-->", "<!-- &amp; &#0; ü 😀 -->", "<!--\n-->"];
const PIS = ["<?fuzz?>", "<?fuzz data?>", "<?php echo 1 ?>", "<?xml-stylesheet href='x'?>"];
const SPACE = [" ", "  ", "\t", "\n", "\r\n", " \t\n "];

// ltx (the component's parser) drops text that follows a CDATA section up to the next tag, so CDATA
// only ends a text run.

function serialize(e: XEl, r: Rng, noisy: boolean): string {
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

function clip(s: string, n: number): string {
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
function toBytes(s: string, r: Rng): Buffer {
  const parts = s.split(MARKER);
  if (parts.length === 1) return Buffer.from(s, "utf8");
  const bufs: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) bufs.push(Buffer.from(r.pick(INVALID_UTF8)));
    bufs.push(Buffer.from(p, "utf8"));
  });
  return Buffer.concat(bufs);
}

// ---------------------------------------------------------------------------------------------
// Values.

const UNICODE = [
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
const CONTROL = ["\u0000", "\u0001", "\u0008", "\u000B", "\u000C", "\u001B", "\u001F", "\u007F", "\u0085"];

function hugeString(r: Rng, len: number): string {
  const alphabet = r.pick(["abcdefghijklmnopqrstuvwxyz0123456789", "0123456789abcdef", "&<>'\"; ", " \t\n", "😀é中\u202Eא\u0301", "A"]);
  const chars = [...alphabet];
  let chunk = "";
  for (let i = 0; i < 256; i++) chunk += r.pick(chars);
  return clip(chunk.repeat(Math.ceil(len / chunk.length) + 1), len);
}

function oddValue(r: Rng): string {
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

const BIG_LEN = [1_000, 4_096, 16_384, 32_768, 65_000];

// ---------------------------------------------------------------------------------------------
// Bases: real publishes and the commands of every registration dialect.

const FIXTURES = (() => {
  const dir = join(import.meta.dirname, "../fixtures/captured");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".xml"))
    .sort()
    .map((f) => ({ name: f.replace(/\.xml$/, ""), tree: fromElement(parseStanza(readFileSync(join(dir, f), "utf8").trim())) }));
})();
const SERVER_PUBLISHES = FIXTURES.filter((f) => !f.name.startsWith("client-"));
const CLIENT_ENABLE = FIXTURES.find((f) => f.name.startsWith("client-"))!;

function replaceValues(e: XEl, map: (v: string) => string): void {
  for (const { el } of elementsOf(e)) {
    el.attrs = el.attrs.map(([k, v]) => [k, map(v)]);
    el.children = el.children.map((c) => (isEl(c) ? c : map(c)));
  }
}

function publishBase(r: Rng): { tree: XEl; label: string } {
  const node = nodeOf(r.int(0, SEEDED - 1));
  if (r.chance(0.3)) return { tree: fromElement(parseStanza(publishIq(node, BENCH_SECRET))), label: "publishIq" };
  const f = r.pick(SERVER_PUBLISHES);
  const tree = clone(f.tree);
  replaceValues(tree, (v) => (v === "testnode123" ? node : v === "s3cr3t" ? BENCH_SECRET : v));
  return { tree, label: f.name };
}

function form(fields: Array<[string, string | string[] | undefined]>, type: string | undefined = "submit"): XEl {
  return x(
    "x",
    { xmlns: NS.data, type },
    ...fields.map(([v, val]) =>
      val === undefined
        ? x("field", { var: v })
        : x("field", { var: v }, ...(Array.isArray(val) ? val : [val]).map((s) => x("value", {}, s))),
    ),
  );
}

interface Tokens {
  forbidden: string[];
}

function tokenFor(r: Rng, kind: "apns" | "fcm" | "jpush", t: Tokens): string {
  const tok = r.weighted<() => string>([
    [6, () => (kind === "apns" ? r.hex(64) : kind === "fcm" ? `${r.alnum(22)}:APA91b${r.alnum(134)}` : r.alnum(18))],
    [1, () => r.hex(64).toUpperCase()],
    [1, () => `zz${r.hex(40)}`],
    [1, () => oddValue(r)],
  ])();
  if (tok.length >= 12) t.forbidden.push(tok);
  return tok;
}

const USERS = Array.from({ length: 40 }, (_, i) => `user${i}@localhost`);

function userFrom(r: Rng): string {
  return r.weighted<() => string>([
    [10, () => `${r.pick(USERS)}/${r.pick(["phone", "tablet", "Conversations.x1", "ü📱"])}`],
    [3, () => r.pick(USERS)],
    [1, () => `mallory@evil.example/x`],
    [1, () => `${r.pick(USERS).toUpperCase()}/R`],
    [1, () => "localhost"],
    [1, () => `user@l\u043Ecalhost/x`],
    [1, () => `user@localhost.evil.example/x`],
  ])();
}

function commandBase(r: Rng, t: Tokens): { tree: XEl; label: string } {
  const from = userFrom(r);
  const opt = <T>(p: number, v: () => T): T | undefined => (r.chance(p) ? v() : undefined);
  const deviceId = () =>
    r.weighted<() => string>([
      [8, () => `dev-${r.int(0, 60)}`],
      [1, () => oddValue(r)],
      [1, () => "x".repeat(r.pick([256, 257, 5000]))],
    ])();
  const kind = r.pick(["apns", "fcm", "jpush"] as const);
  const variant = r.weighted<string>([
    [8, "p2-register"],
    [2, "p2-unregister"],
    [5, "v1-register"],
    [2, "v1-unregister"],
    [4, "tigase-register"],
    [2, "tigase-unregister"],
    [2, "no-form"],
    [1, "cancel"],
    [1, "unknown-command"],
  ]);
  let node: string;
  let fields: Array<[string, string | string[] | undefined]> | undefined;
  switch (variant) {
    case "p2-register":
      node = `register-push-${kind}`;
      fields = [
        ["token", tokenFor(r, kind, t)],
        [r.chance(0.8) ? "device-id" : "android-id", deviceId()],
        ["muc", opt(0.15, () => r.pick(["room@conference.localhost", "room@conference.localhost/nick", oddValue(r)]))],
        ["app", opt(0.1, () => r.pick(["chat", "nope", oddValue(r)]))],
        ["environment", opt(0.3, () => r.pick(["sandbox", "production", "staging", oddValue(r)]))],
        ["push-type", opt(0.15, () => r.pick(["alert", "background", "voip"]))],
        ["voip-token", opt(0.15, () => tokenFor(r, "apns", t))],
      ];
      break;
    case "p2-unregister":
      node = `unregister-push-${kind}`;
      fields = [
        ["device-id", deviceId()],
        ["channel", opt(0.2, () => "room@conference.localhost")],
      ];
      break;
    case "v1-register":
      node = "v1-register-push";
      fields = [
        ["FORM_TYPE", opt(0.8, () => r.pick([`${NS.appserver}v1-register-push`, `${NS.appserver}v1-register-pus`, oddValue(r)]))],
        ["type", r.pick([kind, kind, "gcm", oddValue(r)])],
        [
          "node",
          r.weighted<() => string>([
            [6, () => `v1-${r.alnum(12)}`],
            [2, () => nodeOf(r.int(0, SEEDED - 1))],
            [2, () => oddValue(r)],
          ])(),
        ],
        ["token", tokenFor(r, kind, t)],
        ["environment", opt(0.2, () => r.pick(["sandbox", "production", oddValue(r)]))],
      ];
      break;
    case "v1-unregister":
      node = "v1-unregister-push";
      fields = [
        ["type", kind],
        ["node", r.chance(0.5) ? nodeOf(r.int(0, SEEDED - 1)) : oddValue(r)],
      ];
      break;
    case "tigase-register":
      node = "register-device";
      fields = [
        ["provider", r.pick([TIGASE_PROVIDER, TIGASE_PROVIDER, "tigase:messenger:fcm:9", oddValue(r)])],
        ["device-token", tokenFor(r, "apns", t)],
        ["device-second-token", opt(0.3, () => tokenFor(r, "apns", t))],
      ];
      break;
    case "tigase-unregister":
      node = "unregister-device";
      fields = [
        ["provider", TIGASE_PROVIDER],
        ["device-token", tokenFor(r, "apns", t)],
      ];
      break;
    case "no-form":
      node = r.pick(["register-push-apns", "v1-register-push", "register-device", "unregister-push-fcm"]);
      break;
    case "cancel":
      node = r.pick(["register-push-apns", "v1-register-push"]);
      break;
    default:
      node = r.pick(["register-push-gcm", "", "execute", oddValue(r)]);
  }
  const action =
    variant === "cancel"
      ? "cancel"
      : r.weighted<string | undefined>([
          [8, undefined],
          [3, "execute"],
          [1, "complete"],
          [1, "next"],
          [1, "prev"],
          [1, oddValue(r)],
        ]);
  const sessionid = r.chance(0.2) ? oddValue(r) : undefined;
  const tree = x(
    "iq",
    { type: "set", from, to: "push.localhost" },
    x(
      "command",
      { xmlns: NS.commands, node, action, sessionid },
      fields
        ? form(
            fields,
            r.weighted<string | undefined>([
              [12, "submit"],
              [1, undefined],
              [1, "form"],
              [1, "cancel"],
            ]),
          )
        : undefined,
    ),
  );
  return { tree, label: `cmd:${variant}` };
}

function otherBase(r: Rng): { tree: XEl; label: string } {
  const from = r.pick(["localhost", "user1@localhost/x", "evil.example"]);
  const kind = r.weighted<string>([
    [3, "disco-info"],
    [2, "disco-items"],
    [2, "ping"],
    [1, "version"],
    [2, "enable"],
    [2, "message"],
    [1, "presence"],
    [1, "nonza"],
    [1, "iq-result"],
  ]);
  switch (kind) {
    case "disco-info":
      return {
        tree: x(
          "iq",
          { type: "get", from, to: "push.localhost" },
          x("query", { xmlns: NS.discoInfo, node: r.pick([undefined, NS.commands, "register-push-apns", oddValue(r)]) }),
        ),
        label: kind,
      };
    case "disco-items":
      return {
        tree: x(
          "iq",
          { type: "get", from, to: "push.localhost" },
          x("query", { xmlns: NS.discoItems, node: r.pick([undefined, NS.commands, oddValue(r)]) }),
        ),
        label: kind,
      };
    case "ping":
      return { tree: x("iq", { type: "get", from, to: "push.localhost" }, x("ping", { xmlns: NS.ping })), label: kind };
    case "version":
      return { tree: x("iq", { type: "get", from, to: "push.localhost" }, x("query", { xmlns: NS.version })), label: kind };
    case "enable": {
      const tree = clone(CLIENT_ENABLE.tree);
      replaceValues(tree, (v) => (v === "s3cr3t" ? BENCH_SECRET : v === "testnode123" ? nodeOf(1) : v));
      setAttr(tree, "from", "user1@localhost/phone");
      return { tree, label: "client-enable" };
    }
    case "message":
      return {
        tree: x(
          "message",
          {
            from: r.pick(["user1@localhost/x", "localhost"]),
            to: "push.localhost",
            type: r.pick(["chat", "error", "headline", undefined]),
          },
          x("body", {}, `hello ${oddValue(r)}`),
        ),
        label: kind,
      };
    case "presence":
      return {
        tree: x("presence", {
          from: "user1@localhost/x",
          to: "push.localhost",
          type: r.pick([undefined, "probe", "subscribe", "unavailable"]),
        }),
        label: kind,
      };
    case "nonza":
      return { tree: x(r.pick(["fuzz", "db:result", "r", "a"]), { xmlns: r.pick(["urn:fuzz", "urn:xmpp:sm:3"]) }), label: kind };
    default:
      return {
        tree: x(
          "iq",
          { type: r.pick(["result", "error"]), from, to: "push.localhost" },
          r.chance(0.5) ? x("query", { xmlns: NS.discoInfo }) : undefined,
        ),
        label: kind,
      };
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations. Each returns a label, or undefined when it did not apply.

type Mutation = (t: XEl, r: Rng, tokens: Tokens) => string | undefined;

/** ltx finds children by local name: <fz:field> is a field to getChildren("field"). */
const localName = (name: string) => name.slice(name.indexOf(":") + 1);
const named = (t: XEl, name: string) => elementsOf(t).filter(({ el }) => localName(el.name) === name);
const unknownElement = (r: Rng): XEl =>
  x(
    r.pick(["fuzz", "x", "publish", "item", "value", "field", "a:b", "ünï", "error", "body"]),
    {
      xmlns: r.pick([undefined, "urn:fuzz", NS.data, NS.pubsub, ""]),
      [r.pick(["a", "var", "node", "type"])]: r.chance(0.5) ? oddValue(r) : undefined,
    },
    r.chance(0.5) ? oddValue(r) : undefined,
  );

const MUTATIONS: ReadonlyArray<readonly [number, string, Mutation]> = [
  [
    6,
    "namespace",
    (t, r) => {
      const withNs = elementsOf(t).filter(({ el, parent }) => parent !== undefined && attr(el, "xmlns") !== undefined);
      if (withNs.length === 0) return undefined;
      const { el } = r.pick(withNs);
      const v = r.pick([
        undefined,
        "",
        "urn:fuzz",
        NS.pubsub.toUpperCase(),
        `${NS.pubsub}#owner`,
        NS.push,
        NS.data,
        `${attr(el, "xmlns")} `,
        oddValue(r),
      ]);
      setAttr(el, "xmlns", v);
      return `ns:${el.name}`;
    },
  ],
  [
    2,
    "add-namespace",
    (t, r) => {
      const { el } = r.pick(
        elementsOf(t)
          .filter(({ parent }) => parent !== undefined)
          .concat([{ el: t, parent: undefined }]),
      );
      el.attrs.push([r.pick(["xmlns", "xmlns:fz", "xmlns:stream"]), r.pick(["urn:fuzz", NS.pubsub, "http://etherx.jabber.org/streams"])]);
      return `add-ns:${el.name}`;
    },
  ],
  [
    6,
    "node",
    (t, r) => {
      const targets = named(t, "publish").concat(named(t, "command"));
      if (targets.length === 0) return undefined;
      const { el } = r.pick(targets);
      const v = r.weighted<() => string | undefined>([
        [2, () => undefined],
        [2, () => ""],
        [1, () => "   "],
        [2, () => nodeOf(r.int(0, SEEDED - 1))],
        [2, () => nodeOf(r.int(SEEDED, SEEDED * 100))],
        [2, () => ` ${nodeOf(r.int(0, SEEDED - 1))}`],
        [1, () => nodeOf(r.int(0, SEEDED - 1)).toUpperCase()],
        [3, () => hugeString(r, r.pick(BIG_LEN))],
        [2, () => r.pick(UNICODE)],
        [2, () => oddValue(r)],
      ])();
      setAttr(el, "node", v);
      return `node:${el.name}`;
    },
  ],
  [
    6,
    "secret",
    (t, r, tok) => {
      const secretFields = elementsOf(t).filter(({ el }) => el.name === "field" && attr(el, "var") === "secret");
      if (secretFields.length === 0) return undefined;
      const { el, parent } = r.pick(secretFields);
      const wrong = `wrong-secret-${r.alnum(16)}`;
      tok.forbidden.push(wrong);
      const how = r.pick(["remove", "empty", "wrong", "huge", "padded", "two-values", "wrong-first", "right-first", "valueless", "case"]);
      switch (how) {
        case "remove":
          parent!.children = parent!.children.filter((c) => c !== el);
          break;
        case "empty":
          el.children = [x("value", {})];
          break;
        case "wrong":
          el.children = [x("value", {}, wrong)];
          break;
        case "huge": {
          const huge = `${BENCH_SECRET}${hugeString(r, r.pick(BIG_LEN))}`;
          el.children = [x("value", {}, huge)];
          break;
        }
        case "padded":
          el.children = [x("value", {}, ` \n${BENCH_SECRET}\t `)];
          break;
        case "two-values":
          el.children = [x("value", {}, wrong), x("value", {}, BENCH_SECRET)];
          break;
        case "wrong-first":
          parent!.children.splice(parent!.children.indexOf(el), 0, x("field", { var: "secret" }, x("value", {}, wrong)));
          break;
        case "right-first":
          parent!.children.push(x("field", { var: "secret" }, x("value", {}, wrong)));
          break;
        case "valueless":
          el.children = [];
          break;
        default:
          el.children = [x("value", {}, BENCH_SECRET.toUpperCase())];
      }
      return `secret:${how}`;
    },
  ],
  [
    6,
    "from",
    (t, r) => {
      const v = r.pick([
        undefined,
        "",
        "LocalHost",
        "user1@localhost",
        "user1@localhost/res",
        "localhost/res",
        "evil.example",
        "localhost.evil.example",
        "l\u043Ecalhost",
        "push.localhost",
        "@localhost",
        hugeString(r, 4096),
        r.pick(UNICODE),
      ]);
      setAttr(t, "from", v);
      return "from";
    },
  ],
  [
    4,
    "type",
    (t, r) => {
      const v = r.pick([undefined, "", "get", "set", "result", "error", "GET", "Set", "set ", "normal", "chat", oddValue(r)]);
      if (r.chance(0.2)) t.attrs.push(["type", v ?? "get"]);
      else setAttr(t, "type", v);
      return "type";
    },
  ],
  [
    3,
    "to",
    (t, r) => {
      setAttr(
        t,
        "to",
        r.pick([undefined, "", "localhost", "other.localhost", "PUSH.LOCALHOST", "push.localhost/res", hugeString(r, 2048)]),
      );
      return "to";
    },
  ],
  [
    9,
    "unknown-elements",
    (t, r) => {
      const n = r.int(1, 6);
      const all = elementsOf(t);
      for (let i = 0; i < n; i++) {
        const { el } = r.pick(all);
        el.children.splice(r.int(0, el.children.length), 0, unknownElement(r));
      }
      return "unknown-elements";
    },
  ],
  [
    4,
    "huge-text",
    (t, r) => {
      const values = named(t, "value").concat(named(t, "body"));
      const target = values.length > 0 && r.chance(0.8) ? r.pick(values).el : r.pick(elementsOf(t)).el;
      target.children = [hugeString(r, r.pick(BIG_LEN))];
      return `huge-text:${target.name}`;
    },
  ],
  [
    2,
    "many-fields",
    (t, r) => {
      const forms = elementsOf(t).filter(({ el }) => el.name === "x");
      const target = forms.length > 0 ? r.pick(forms).el : r.pick(elementsOf(t)).el;
      const n = r.int(500, 3000);
      const fields: XEl[] = [];
      for (let i = 0; i < n; i++)
        fields.push(
          x(
            "field",
            { var: r.chance(0.9) ? `f${i}` : r.pick(["secret", "token", "FORM_TYPE", "node", "device-id"]) },
            x("value", {}, r.chance(0.1) ? clip(oddValue(r), 64) : String(i)),
          ),
        );
      target.children.push(...fields);
      return `many-fields:${n}`;
    },
  ],
  [
    2,
    "deep-nesting",
    (t, r) => {
      const depth = r.pick([200, 500, 1000, 2000, 3000]);
      const name = r.pick(["a", "x", "item", "field", "value", "n"]);
      let inner: XEl = x(name, {}, r.chance(0.5) ? "deep" : undefined);
      for (let i = 1; i < depth; i++) inner = x(name, i % 7 === 0 ? { xmlns: "urn:fuzz" } : {}, inner);
      const { el } = r.pick(elementsOf(t));
      el.children.push(inner);
      return `deep:${depth}`;
    },
  ],
  [
    3,
    "duplicate-child",
    (t, r) => {
      const withParent = elementsOf(t).filter(({ parent }) => parent !== undefined);
      if (withParent.length === 0) return undefined;
      const { el, parent } = r.pick(withParent);
      parent!.children.splice(r.int(0, parent!.children.length), 0, clone(el));
      return `dup:${el.name}`;
    },
  ],
  [
    3,
    "remove-child",
    (t, r) => {
      const withParent = elementsOf(t).filter(({ parent }) => parent !== undefined);
      if (withParent.length === 0) return undefined;
      const { el, parent } = r.pick(withParent);
      parent!.children = parent!.children.filter((c) => c !== el);
      return `remove:${el.name}`;
    },
  ],
  [
    2,
    "rename",
    (t, r) => {
      const withParent = elementsOf(t).filter(({ parent }) => parent !== undefined);
      if (withParent.length === 0) return undefined;
      const { el } = r.pick(withParent);
      const old = el.name;
      el.name = r.pick([old.toUpperCase(), `${old}x`, `fz:${old}`, "ünï", "iq", "x", "publish", "command", "pubsub", "field"]);
      return `rename:${old}`;
    },
  ],
  [
    4,
    "junk-attributes",
    (t, r) => {
      const { el } = r.pick(elementsOf(t));
      const n = r.int(1, 4);
      for (let i = 0; i < n; i++) {
        el.attrs.push([
          r.pick([
            "__proto__",
            "constructor",
            "toString",
            "hasOwnProperty",
            "valueOf",
            "xml:lang",
            "a-b.c_d",
            "ünï",
            "xmlns:x",
            "data-fuzz",
            "var",
            "node",
            "id",
          ]),
          oddValue(r),
        ]);
      }
      return "junk-attributes";
    },
  ],
  [
    4,
    "unicode",
    (t, r) => {
      const { el } = r.pick(elementsOf(t));
      el.children.push(r.pick(UNICODE));
      return `unicode:${el.name}`;
    },
  ],
  [
    2,
    "control-characters",
    (t, r) => {
      const values = named(t, "value").concat(named(t, "body"));
      if (values.length === 0) return undefined;
      const { el } = r.pick(values);
      el.children.push(`${r.pick(CONTROL)}${r.pick(CONTROL)}`);
      return "control-characters";
    },
  ],
  [
    3,
    "invalid-utf8",
    (t, r) => {
      const { el } = r.pick(elementsOf(t));
      if (r.chance(0.5)) el.children.push(`x${MARKER}y${MARKER}`);
      else el.attrs.push(["data-bytes", `${MARKER}`]);
      return "invalid-utf8";
    },
  ],
  [
    2,
    "second-payload",
    (t, r) => {
      t.children.push(r.chance(0.5) ? unknownElement(r) : clone(t.children.find(isEl) ?? unknownElement(r)));
      return "second-payload";
    },
  ],
  [
    1,
    "empty",
    (t) => {
      t.children = [];
      return "empty";
    },
  ],
  [
    2,
    "text-in-stanza",
    (t, r) => {
      t.children.splice(r.int(0, t.children.length), 0, r.pick(["text", " ", oddValue(r)]));
      return "text-in-stanza";
    },
  ],
  [
    3,
    "form-type",
    (t, r) => {
      const forms = named(t, "x");
      if (forms.length === 0) return undefined;
      const { el } = r.pick(forms);
      if (r.chance(0.5)) setAttr(el, "type", r.pick([undefined, "", "form", "submit", "result", "cancel", oddValue(r)]));
      else {
        const ft = el.children.find((c): c is XEl => isEl(c) && attr(c, "var") === "FORM_TYPE");
        if (ft) ft.children = [x("value", {}, r.pick(["", NS.summary, NS.publishOptions, "urn:fuzz", oddValue(r)]))];
        else
          el.children.unshift(
            x("field", { var: "FORM_TYPE", type: "hidden" }, x("value", {}, r.pick([NS.summary, NS.publishOptions, "urn:fuzz"]))),
          );
      }
      return "form-type";
    },
  ],
  [
    1,
    "prefixed-names",
    (t) => {
      const payload = t.children.find(isEl);
      if (!payload) return undefined;
      const ns = attr(payload, "xmlns") ?? "urn:fuzz";
      setAttr(payload, "xmlns", undefined);
      payload.attrs.push(["xmlns:p", ns]);
      payload.name = `p:${payload.name}`;
      return "prefixed-names";
    },
  ],
  [
    2,
    "command-attributes",
    (t, r) => {
      const cmds = named(t, "command");
      if (cmds.length === 0) return undefined;
      const { el } = r.pick(cmds);
      setAttr(el, r.pick(["action", "sessionid", "status"]), r.pick([undefined, "", "execute", "cancel", "complete", oddValue(r)]));
      return "command-attributes";
    },
  ],
];

// ---------------------------------------------------------------------------------------------
// Cases and what may be answered to them.

interface Case {
  n: number;
  label: string;
  bytes: Buffer;
  /** undefined: no id attribute. */
  id: string | undefined;
  from: string | undefined;
  /** Replies expected for this id: exactly `expect` (get/set), 0 (result/error/message/…), at most 1 (other iq types). */
  expect: number | "at-most-one";
  /** `result` is allowed: the publish names a seeded node with the right secret from the served domain, or another kind of request. */
  resultAllowed: boolean;
  /** Strings that must appear in no reply (secrets, tokens of the request). */
  forbidden: string[];
  /** An unmutated valid publish: must be answered `result`. */
  control: boolean;
  sends: number;
}

function domainOfJid(jid: string): string {
  const bare = jid.split("/")[0]!;
  return bare.slice(bare.lastIndexOf("@") + 1).toLowerCase();
}

function judge(t: XEl): Pick<Case, "expect" | "resultAllowed"> {
  const type = attr(t, "type");
  const expect = t.name !== "iq" ? 0 : type === "get" || type === "set" ? 1 : type === "result" || type === "error" ? 0 : "at-most-one";
  const payloads = t.children.filter(isEl);
  if (payloads.length !== 1) return { expect, resultAllowed: false };
  const p = payloads[0]!;
  const from = attr(t, "from");
  if (p.name === "pubsub") {
    // Over-approximation of a valid publish: the served domain, some publish naming a seeded node,
    // some secret field whose value is the right secret.
    const fromOk = from !== undefined && from.toLowerCase() === "localhost";
    const nodeOk = named(p, "publish").some(({ el }) => SEEDED_NODES.has(attr(el, "node") ?? ""));
    const secretOk = named(p, "field").some(
      ({ el }) => attr(el, "var") === "secret" && named(el, "value").some(({ el: v }) => text(v).trim() === BENCH_SECRET),
    );
    return { expect, resultAllowed: fromOk && nodeOk && secretOk };
  }
  // Registrations: checked on the reply (a completed registration only for the served domain).
  if (p.name === "command") return { expect, resultAllowed: true };
  return { expect, resultAllowed: p.name === "query" || p.name === "ping" };
}

/** The generator's own check: the stanza is well-formed to the component's parser (else the case is a generator bug). */
function wellFormedToLtx(bytes: Buffer): string | undefined {
  const p = new xml.Parser();
  let problem: string | undefined;
  let elements = 0;
  p.on("error", (err) => (problem ??= err.message));
  p.on("element", () => (elements += 1));
  try {
    p.write("<stream xmlns='jabber:component:accept'>");
    p.write(bytes.toString("utf8"));
  } catch (err) {
    problem ??= (err as Error).message;
  }
  return problem ?? (elements === 1 ? undefined : `${elements} elements`);
}

function generate(r: Rng, n: number): Case[] {
  const tokens: Tokens = { forbidden: [] };
  const baseKind = r.weighted<string>([
    [50, "publish"],
    [35, "command"],
    [15, "other"],
  ]);
  const { tree, label } = baseKind === "publish" ? publishBase(r) : baseKind === "command" ? commandBase(r, tokens) : otherBase(r);
  const labels = [label];
  // One case in twelve is an unmutated publish: the control group, which must keep working.
  const control = baseKind === "publish" && r.chance(1 / 6);
  if (!control) {
    const count = r.weighted<number>([
      [2, 0],
      [5, 1],
      [3, 2],
      [1, 3],
    ]);
    for (let i = 0; i < count; i++) {
      const [, , mutate] = r.weighted(MUTATIONS.map((e) => [e[0], e] as const));
      const l = mutate(tree, r, tokens);
      if (l !== undefined) labels.push(l);
    }
  }
  // The id: normally unique per case; sometimes missing, empty, huge or odd (still unique).
  let id: string | undefined = `fz${n}`;
  if (!control && r.chance(0.08)) {
    id = r.weighted<() => string | undefined>([
      [2, () => undefined],
      [1, () => ""],
      [1, () => `fz${n}-${"i".repeat(r.pick([1024, 65_000]))}`],
      [2, () => `fz${n}-${r.pick(UNICODE)}`],
      [2, () => `fz${n}-&<>'"]]>`],
    ])();
    labels.push("id");
  }
  setAttr(tree, "id", id);
  const noisy = !control && r.chance(0.6);
  const bytes = toBytes(serialize(tree, r, noisy), r);
  const verdict = judge(tree);
  const from = attr(tree, "from");
  const forbidden = [...tokens.forbidden];
  const base: Case = { n, label: labels.join("+"), bytes, id, from, ...verdict, forbidden, control, sends: 1 };
  const problem = wellFormedToLtx(bytes);
  if (problem !== undefined)
    throw new Error(`generator bug, case ${n} (${base.label}) is not well-formed: ${problem}\n${bytes.toString("utf8").slice(0, 2000)}`);
  // Duplicates: the same stanza twice with one id (two replies), or a publish resent as a new stanza.
  if (!control && verdict.expect === 1 && id !== undefined && r.chance(0.02))
    return [{ ...base, label: `${base.label}+same-id-twice`, sends: 2 }];
  if (baseKind === "publish" && r.chance(0.03)) {
    const again: Case[] = [base];
    for (let k = 1; k <= r.int(1, 3); k++) {
      const t2 = clone(tree);
      setAttr(t2, "id", id === undefined || id === "" ? id : `${id}-dup${k}`);
      again.push({ ...base, label: `${base.label}+duplicate`, id: attr(t2, "id"), bytes: toBytes(serialize(t2, r, noisy), r) });
    }
    return again;
  }
  return [base];
}

// ---------------------------------------------------------------------------------------------

let dir: string;
let pgc: PrivatePostgres;
let db: Database;
let xmpp: FakeXmppServer;
let app: AppProcess;

beforeAll(async () => {
  ({ dir, pgc, db } = await startPrivateDatabase("fuzz"));
  await seedRegistrations(db.knex, SEEDED, "chat");
  xmpp = await startFakeXmppServer({ secret: "fuzz-component-secret" });
  app = startAppProcess({
    dir,
    name: "fuzz",
    httpPort: await freePort(),
    // With production's heap cap a leak ends in an out-of-memory exit, and RSS stops wandering with V8's heap sizing.
    env: { NODE_OPTIONS: PRODUCTION_NODE_OPTIONS },
    config: {
      // The generator's huge values, escaped, reach ~400 KB per stanza: above the default stanza cap
      // (256 KiB), which would end the stream. The cap has its own tests (security-xmpp-edges); here
      // every stanza must be judged on its content, on one connection.
      component: {
        service: xmpp.service,
        domain: xmpp.componentDomain,
        secret: xmpp.secret,
        reconnectMaxDelayMs: 300,
        maxStanzaBytes: 4 * 1024 * 1024,
      },
      domains: ["localhost"],
      database: { url: pgc.url },
      log: { level: "warn" },
      // The log provider: every push "succeeds" at once, so the replies show the server's decisions.
      apps: [{ id: "chat", default: true, tigase: { providers: { [TIGASE_PROVIDER]: "apns", "tigase:messenger:jpush:1": "jpush" } } }],
    },
  });
  await xmpp.waitForComponent(60_000);
});

afterAll(async () => {
  await app?.stop();
  await xmpp?.stop();
  await db?.close();
  pgc?.destroy();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** sendRaw hands its argument to socket.write unchanged, so a Buffer goes out byte for byte (invalid UTF-8 included). */
function sendBytes(server: FakeXmppServer, bytes: Buffer): void {
  server.sendRaw(bytes as unknown as string);
}

it(`survives ${CASES} hostile stanzas and registration forms with exactly one well-formed reply each`, async () => {
  console.log(`[fuzz] seed=${SEED} (XMPP_PUSH_FUZZ_SEED=${SEED} replays this run) cases=${CASES}`);
  const started = Date.now();
  const rng = new Rng(SEED);
  const pid = app.child.pid!;
  const handshakesAtStart = xmpp.handshakes;

  interface Slot {
    c: Case;
    got: number;
  }
  const byId = new Map<string, Slot>();
  const noId = { expected: 0, maxExpected: 0, got: 0 };
  const emptyId = { expected: 0, maxExpected: 0, got: 0 };
  const violations: string[] = [];
  const violation = (c: Case | undefined, what: string) => {
    if (violations.length < 50) violations.push(`${what} [case ${c?.n ?? "?"} ${c?.label ?? ""}]`);
    else if (violations.length === 50) violations.push("… more");
  };
  const figures = { replies: 0, results: 0, cancel: 0, wait: 0, modify: 0, auth: 0, maxErrorTextChars: 0 };
  const conditions = new Map<string, number>();
  let controlsOk = 0;
  let longestErrorText = "";
  let controls = 0;

  const check = (el: Element, c: Case | undefined) => {
    figures.replies += 1;
    const s = el.toString();
    if (s.includes(BENCH_SECRET)) violation(c, "a reply contains the publish secret");
    for (const f of c?.forbidden ?? []) if (s.includes(f)) violation(c, `a reply contains a request value: ${f.slice(0, 40)}`);
    if (el.name !== "iq") return violation(c, `not an iq: ${s.slice(0, 200)}`);
    // ASCII only: invalid UTF-8 in a from arrives as U+FFFD (a character split between two reads is
    // checked in hostile-stream.test.ts).
    if (c && c.from !== undefined && /^[\x20-\x7e]*$/.test(c.from) && el.attrs.to !== c.from)
      violation(c, `reply to=${String(el.attrs.to).slice(0, 60)} but request from=${c.from.slice(0, 60)}`);
    if (el.attrs.type === "result") {
      figures.results += 1;
      if (c && !c.resultAllowed) violation(c, `answered result: ${s.slice(0, 300)}`);
      if (c?.control) controlsOk += 1;
      // A registration completes only for an account of the served domain (or an IQ without from).
      const command = el.getChild("command", NS.commands);
      if (
        command?.attrs.status === "completed" &&
        /^(register-|v1-register)/.test(command.attrs.node ?? "") &&
        c?.from !== undefined &&
        c.from !== "" &&
        domainOfJid(c.from) !== "localhost"
      ) {
        violation(c, `registered a device for ${c.from.slice(0, 60)}`);
      }
      return;
    }
    if (el.attrs.type !== "error") return violation(c, `reply type ${el.attrs.type}`);
    if (c?.control) violation(c, `a valid publish was answered ${s.slice(0, 300)}`);
    const children = el.getChildElements();
    if (children.length !== 1 || children[0]!.name !== "error")
      return violation(c, `an error reply carries more than its <error/>: ${s.slice(0, 300)}`);
    const error = children[0]!;
    const type = error.attrs.type ?? "";
    if (!ERROR_TYPES.has(type)) violation(c, `error type "${type}"`);
    else figures[type as "cancel" | "wait" | "modify" | "auth"] += 1;
    const inner = error.getChildElements();
    const condition = inner[0];
    if (!condition || condition.name === "text" || condition.attrs.xmlns !== NS.stanzas)
      return violation(c, `no stanza-error condition: ${s.slice(0, 300)}`);
    conditions.set(`${type}/${condition.name}`, (conditions.get(`${type}/${condition.name}`) ?? 0) + 1);
    for (const extra of inner.slice(1)) {
      if (extra.name !== "text" || extra.attrs.xmlns !== NS.stanzas) violation(c, `unexpected <${extra.name}/> in an error`);
      if (extra.text().length > figures.maxErrorTextChars) {
        figures.maxErrorTextChars = extra.text().length;
        longestErrorText = `${type}/${condition.name} [${c?.label ?? ""}]: ${extra.text()}`;
      }
    }
    for (const echo of ["<pubsub", "<publish", "<command", "<x ", "<field", NS.data])
      if (s.includes(echo)) violation(c, `an error reply echoes the request (${echo})`);
  };

  const drain = () => {
    for (const el of xmpp.unsolicited.splice(0)) {
      const id = el.attrs.id;
      if (id === undefined) {
        noId.got += 1;
        check(el, undefined);
        continue;
      }
      if (id === "") {
        emptyId.got += 1;
        check(el, undefined);
        continue;
      }
      const slot = byId.get(id);
      if (!slot) {
        violations.push(`a reply with an id nobody sent: ${el.toString().slice(0, 200)}`);
        continue;
      }
      slot.got += 1;
      const max = slot.c.expect === "at-most-one" ? 1 : slot.c.expect * slot.c.sends;
      if (slot.got > max) violation(slot.c, `${slot.got} replies for one id (expected ${max})`);
      check(el, slot.c);
    }
  };
  const drainer = setInterval(drain, 10);

  let generated = 0;
  let sentStanzas = 0;
  let rssBeforeMb = 0;
  let unanswered = 0;
  // A digest of every generated stanza: the same seed gives the same digest.
  const corpus = createHash("sha256");
  const rssTrail: number[] = [];
  try {
    while (generated < CASES) {
      const batch: Case[] = [];
      while (batch.length < BATCH && generated < CASES) {
        for (const c of generate(rng, generated)) {
          corpus.update(c.bytes);
          batch.push(c);
          generated += 1;
        }
      }
      const register = (c: Case) => {
        if (c.control) controls += 1;
        const want = c.expect === "at-most-one" ? 0 : c.expect * c.sends;
        const maxWant = c.expect === "at-most-one" ? 1 : want;
        if (c.id === undefined) {
          noId.expected += want;
          noId.maxExpected += maxWant;
        } else if (c.id === "") {
          emptyId.expected += want;
          emptyId.maxExpected += maxWant;
        } else {
          if (byId.has(c.id)) throw new Error(`generator bug: id ${c.id} used twice`);
          byId.set(c.id, { c, got: 0 });
        }
        for (let k = 0; k < c.sends; k++) {
          sendBytes(xmpp, c.bytes);
          sentStanzas += 1;
        }
      };
      const waiting = (cases: Case[]) =>
        cases.filter((c) => c.id !== undefined && c.id !== "" && c.expect !== "at-most-one" && byId.get(c.id)!.got < c.expect * c.sends);
      const awaitReplies = async (cases: Case[]) => {
        try {
          await waitFor(
            "the replies of a batch",
            () => {
              drain();
              return waiting(cases).length === 0;
            },
            20_000,
            2,
          );
        } catch {
          for (const c of waiting(cases)) {
            unanswered += 1;
            violation(c, `no reply to ${c.id?.slice(0, 40)} within 20 s`);
          }
        }
      };
      batch.forEach(register);
      await awaitReplies(batch);
      if (app.child.exitCode !== null || app.child.signalCode !== null) {
        throw new Error(
          `the app process exited (${app.child.exitCode ?? app.child.signalCode}) during batch ending at case ${generated}; last output:\n${app.output().slice(-3000)}`,
        );
      }
      if (Math.floor(generated / 1000) > rssTrail.length) rssTrail.push(rssMb(pid));
      if (rssBeforeMb === 0 && generated >= WARMUP) {
        await sleep(500);
        rssBeforeMb = rssMb(pid);
      }
    }
    // Late or extra replies (to result/error IQs, messages, duplicates) would show up now.
    await sleep(2000);
    drain();
  } finally {
    clearInterval(drainer);
  }
  const rssAfterMb = rssMb(pid);
  const wellFormedSeconds = (Date.now() - started) / 1000;

  if (noId.got < noId.expected || noId.got > noId.maxExpected)
    violations.push(`replies without id: ${noId.got}, expected ${noId.expected}..${noId.maxExpected}`);
  if (emptyId.got < emptyId.expected || emptyId.got > emptyId.maxExpected)
    violations.push(`replies with id="": ${emptyId.got}, expected ${emptyId.expected}..${emptyId.maxExpected}`);
  const handlerFailures = app
    .output()
    .split("\n")
    .filter((l) => l.includes("IQ handler failed") || l.includes("failed to answer a stanza")).length;

  console.log(
    `[fuzz] conditions: ${[...conditions]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k}=${v}`)
      .join(" ")}`,
  );
  console.log(
    `[fuzz] ${sentStanzas} stanzas in ${wellFormedSeconds.toFixed(1)} s; controls ${controlsOk}/${controls}; handler failures logged: ${handlerFailures}`,
  );
  for (const l of app
    .output()
    .split("\n")
    .filter((x) => x.includes("handler failed"))
    .slice(0, 3))
    console.log(`[fuzz] handler failure: …${l.slice(-300)}`);
  console.log(`[fuzz] corpus sha256 ${corpus.digest("hex").slice(0, 16)}`);
  console.log(`[fuzz] RSS every 1000 cases (MB): ${rssTrail.join(" ")}`);
  console.log(`[fuzz] longest error text: ${longestErrorText.slice(0, 160)}…`);
  expect(violations).toEqual([]);
  expect(unanswered).toBe(0);
  expect(controlsOk).toBe(controls);
  expect(app.child.pid).toBe(pid);
  expect(app.child.exitCode).toBeNull();
  // One connection for the whole well-formed run: nothing we sent (nor replied) broke the stream.
  expect(xmpp.handshakes).toBe(handshakesAtStart);
  expect(rssAfterMb - rssBeforeMb).toBeLessThan(RSS_GROWTH_LIMIT_MB);

  // -------------------------------------------------------------------------------------------
  // Not well-formed XML, each on a fresh connection: the correct reaction is a stream error and
  // closing the stream; the component must then come back by itself and serve again.
  const illFormed: Array<[string, string]> = [
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
  // Restricted XML (RFC 6120 §11.1) and what used to crash or deafen xmpp.js: same reaction.
  const ping = `<iq type='get' id='rx' from='localhost' to='push.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`;
  const restricted: Array<[string, string]> = [
    ...COMMENTS.map((c): [string, string] => [`a comment ${JSON.stringify(c)}`, c + ping]),
    ...PIS.map((p): [string, string] => [`a processing instruction ${JSON.stringify(p)}`, ping.replace("<ping", `${p}<ping`)]),
    ["a DOCTYPE with entities", `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>${ping}`],
    ["an undefined entity", ping.replace("/>", ">&foo;</ping>")],
    ["a reference to a control character", ping.replace("/>", ">&#x1;</ping>")],
    ["a reference to a lone surrogate", ping.replace("/>", ">&#xD800;</ping>")],
  ];
  let reconnects = 0;
  for (const [what, bad] of [...illFormed, ...restricted]) {
    const before = xmpp.handshakes;
    const ok = await xmpp.iq(publishIq(nodeOf(2), BENCH_SECRET), 10_000);
    expect(ok.attrs.type, `a publish before: ${what}`).toBe("result");
    xmpp.sendRaw(bad);
    await waitFor(`the component to reconnect after: ${what}`, () => xmpp.handshakes > before && xmpp.isConnected(), 15_000, 20);
    reconnects += xmpp.handshakes - before;
    const after = await xmpp.iq(publishIq(nodeOf(3), BENCH_SECRET), 10_000);
    expect(after.attrs.type, `a publish after: ${what}`).toBe("result");
    expect(app.child.exitCode, `the process after: ${what}`).toBeNull();
    expect(app.child.pid).toBe(pid);
  }
  const ready = await fetch(`http://127.0.0.1:${app.httpPort}/readyz`);
  expect(ready.status).toBe(200);

  report("fuzz", {
    seed: SEED,
    cases: generated,
    stanzas: sentStanzas,
    replies: figures.replies,
    results: figures.results,
    errorsCancel: figures.cancel,
    errorsWait: figures.wait,
    errorsModify: figures.modify,
    errorsAuth: figures.auth,
    maxErrorTextChars: figures.maxErrorTextChars,
    handlerFailures,
    illFormed: illFormed.length,
    restricted: restricted.length,
    reconnects,
    rssBeforeMb,
    rssAfterMb,
    seconds: Math.round((Date.now() - started) / 1000),
  });
});
