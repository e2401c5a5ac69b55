import xml, { type Element } from "@xmpp/xml";
import { describe, expect, it } from "vitest";
import { createStanzaFramer } from "../../../src/xmpp/stanza-framer.js";
import { nextBatch } from "../../support/fuzz/fuzz-generator.js";
import { ILL_FORMED, RESTRICTED } from "../../support/fuzz/fuzz-ill-formed.js";
import { Rng } from "../../support/fuzz/fuzz-rng.js";
import { parseXml } from "../../support/stanzas.js";

// The framer cuts the stream into stanzas before the parser sees it. Whatever the cut, the stanzas
// that come out of the stream must be the ones the parser alone finds, in order, and an error must be
// the error the parser alone finds. Here every stanza the framer hands out is "claimed" and parsed on
// its own, the strictest use: a stanza cut in the wrong place would not parse, or would differ.

const HEADER = `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='push.example.org' id='s1'>`;

/**
 * An element as text, without recursion: the corpus holds stanzas nested deeply enough to overflow
 * the stack of a recursive toString() (and whether it does depends on how far V8 has optimised it).
 */
function flat(root: Element): string {
  let out = "";
  const stack: Array<Element | string> = [root];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (typeof next === "string") {
      out += next;
      continue;
    }
    out += `<${next.name} ${JSON.stringify(next.attrs)}>`;
    stack.push(`</${next.name}>`);
    for (let k = next.children.length - 1; k >= 0; k--) {
      const child = next.children[k]!;
      stack.push(typeof child === "string" ? JSON.stringify(child) : child);
    }
  }
  return out;
}

interface Outcome {
  readonly stanzas: string[];
  readonly error: boolean;
}

function parserAlone(stream: string): Outcome {
  const stanzas: string[] = [];
  let error = false;
  const p = new xml.Parser();
  p.on("element", (el) => stanzas.push(flat(el)));
  p.on("error", () => (error = true));
  try {
    p.write(stream);
  } catch {
    error = true;
  }
  return { stanzas, error };
}

function framedThenParser(stream: string, cuts: readonly number[]): Outcome & { claimed: number; passingThrough: boolean } {
  const stanzas: string[] = [];
  let error = false;
  let claimed = 0;
  const p = new xml.Parser();
  p.on("element", (el) => stanzas.push(flat(el)));
  p.on("error", () => (error = true));
  const framer = createStanzaFramer();
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    if (error) break;
    framer.write(stream.slice(at, cut), (text, stanza) => {
      if (stanza) {
        // Claimed when it parses on its own; one that does not is the parser's to refuse.
        let parsed: string | undefined;
        try {
          parsed = flat(parseXml(text));
        } catch {
          parsed = undefined;
        }
        if (parsed !== undefined) {
          claimed += 1;
          stanzas.push(parsed);
          return true;
        }
      }
      try {
        p.write(text);
      } catch {
        error = true;
      }
      return !error;
    });
    at = cut;
  }
  return { stanzas, error, claimed, passingThrough: framer.passingThrough };
}

function randomCuts(r: Rng, length: number, count: number): number[] {
  const cuts = Array.from({ length: count }, () => r.int(1, Math.max(1, length - 1)));
  return [...new Set(cuts)].sort((a, b) => a - b);
}

describe("stanza framer", () => {
  it("hands out exactly the parser's stanzas for the fuzz corpus, however the stream is cut", { timeout: 60_000 }, () => {
    const r = new Rng(0x357_2026);
    const texts: string[] = [];
    for (let generated = 0; generated < 1500;) {
      for (const c of nextBatch(r, generated, 100, 1500)) {
        generated += 1;
        texts.push(c.bytes.toString("utf8"));
      }
    }
    // Streams of 50 stanzas with keepalive whitespace between some, cut into reads at random places.
    const cutter = new Rng(7);
    for (let i = 0; i < texts.length; i += 50) {
      const stream = HEADER + texts.slice(i, i + 50).join(cutter.chance(0.5) ? " " : "");
      const alone = parserAlone(stream);
      expect(alone.error).toBe(false);
      for (const cuts of [[], randomCuts(cutter, stream.length, 300)]) {
        const framed = framedThenParser(stream, cuts);
        expect(framed.error).toBe(false);
        expect(framed.stanzas).toEqual(alone.stanzas);
        expect(framed.passingThrough).toBe(false);
        expect(framed.claimed).toBe(alone.stanzas.length);
      }
    }
  });

  it("hands out the same stanzas when a stream is cut at every single place", () => {
    const stream = `${HEADER}<iq type='set' id='a' from='example.org' to='push.example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node="n&amp;1"><item><x a = 'b>c'/>t<![CDATA[<x></x>]]></item></publish></pubsub></iq> <presence/>\n<message to='x'><body>&lt;</body></message>`;
    const alone = parserAlone(stream);
    expect(alone.stanzas).toHaveLength(3);
    for (let cut = 1; cut < stream.length; cut++) {
      for (const cuts of [[cut], [cut, Math.min(stream.length - 1, cut + 3)]]) {
        const framed = framedThenParser(stream, cuts);
        expect(framed.stanzas, `cut at ${cuts.join(",")}`).toEqual(alone.stanzas);
        expect(framed.claimed).toBe(3);
      }
    }
  });

  it.each([...ILL_FORMED, ...RESTRICTED, ["the stream's end", "</stream:stream>"] as const])(
    "leaves %s to the parser: the same stanzas before it, the same error",
    (_what, bad) => {
      const ok = `<iq type='get' id='p' from='example.org' to='push.example.org'><ping xmlns='urn:xmpp:ping'/></iq>`;
      const stream = HEADER + ok + bad + ok;
      const alone = parserAlone(stream);
      for (const cuts of [[], [HEADER.length + ok.length + 3]]) {
        const framed = framedThenParser(stream, cuts);
        expect(framed.error).toBe(alone.error);
        // The parser may get further than the framer before its error, never elsewhere.
        expect(alone.stanzas.slice(0, framed.stanzas.length)).toEqual(framed.stanzas);
        expect(framed.stanzas.length).toBeGreaterThanOrEqual(1);
      }
    },
  );

  it("passes on what it cannot frame, and holds nothing back afterwards", () => {
    const framer = createStanzaFramer();
    const out: Array<[string, boolean]> = [];
    const sink = (text: string, stanza: boolean) => (out.push([text, stanza]), true);
    framer.write(HEADER + "<iq a=b>", sink);
    expect(framer.passingThrough).toBe(true);
    framer.write("</iq>", sink);
    expect(out.map(([t]) => t).join("")).toBe(HEADER + "<iq a=b></iq>");
    expect(out.every(([, stanza]) => !stanza)).toBe(true);
  });

  it("drops keepalive space between stanzas instead of handing it to the parser", () => {
    const framer = createStanzaFramer();
    const out: Array<[string, boolean]> = [];
    const sink = (text: string, stanza: boolean) => (out.push([text, stanza]), true);
    framer.write(HEADER + " \n", sink);
    for (let i = 0; i < 100; i++) framer.write(" \n".repeat(1000), sink);
    framer.write("<presence/> \n", sink);
    expect(out).toEqual([
      [HEADER, false],
      ["<presence/>", true],
    ]);
    expect(framer.pendingLength).toBe(0);
  });

  it("holds an unfinished stanza, and says how much", () => {
    const framer = createStanzaFramer();
    const out: string[] = [];
    framer.write(HEADER + "<iq id='1'><query>", (t) => (out.push(t), true));
    expect(out.join("")).toBe(HEADER);
    expect(framer.pendingText()).toBe("<iq id='1'><query>");
    framer.write("x".repeat(1000), (t) => (out.push(t), true));
    expect(framer.pendingLength).toBe(1018);
    framer.write("</query></iq>", (t) => (out.push(t), true));
    expect(framer.pendingText()).toBe("");
    expect(out.at(-1)).toBe(`<iq id='1'><query>${"x".repeat(1000)}</query></iq>`);
  });
});
