import { parse } from "@xmpp/jid";
import { describe, expect, it } from "vitest";
import { domainOf } from "../../../src/domain/jid.js";

// domainOf reads the domain without building a JID (it runs for every push); it must say exactly what
// @xmpp/jid says, whatever the text.

const reference = (jid: string): string => {
  try {
    return parse(jid).domain;
  } catch {
    return "";
  }
};

const PARTS = ["", "a", "Alice", "b\\20c", "x@y", "/", "@", "Example.COM", "ü", "😀", " ", "a/b", "conference.example.org", "@@", "//"];

describe("domainOf", () => {
  it("gives @xmpp/jid's domain for every combination of local, domain and resource parts", () => {
    let compared = 0;
    for (const local of PARTS)
      for (const domain of PARTS)
        for (const resource of PARTS)
          for (const jid of [
            `${local}@${domain}/${resource}`,
            `${local}@${domain}`,
            `${domain}/${resource}`,
            domain,
            `${local}${domain}${resource}`,
          ]) {
            expect(domainOf(jid), JSON.stringify(jid)).toBe(reference(jid));
            compared += 1;
          }
    expect(compared).toBe(PARTS.length ** 3 * 5);
  });
});
