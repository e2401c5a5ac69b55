import { parse } from "@xmpp/jid";

// JIDs as the registration rules compare them: bare (no resource), local part and domain in lower case
// (@xmpp/jid's normalisation, which also applies XEP-0106 escaping to the local part). @xmpp/jid is a
// pure value parser (no I/O, no XML), so the domain may use it.

/** The bare JID, or undefined when the text is not a JID (empty, no domain). */
export function bareJid(jid: string): string | undefined {
  try {
    return parse(jid).bare().toString();
  } catch {
    return undefined;
  }
}

/**
 * The JID's domain in lower case; "" when the text is not a JID. What @xmpp/jid's parse(jid).domain
 * gives (test/unit/domain/jid.test.ts compares them), without building the JID: the publish path asks
 * for every push, and parse() also examines the local part for XEP-0106 escaping, which this throws away.
 */
export function domainOf(jid: string): string {
  const slash = jid.indexOf("/");
  const bare = slash === -1 ? jid : jid.slice(0, slash);
  const at = bare.indexOf("@");
  return (at === -1 ? bare : bare.slice(at + 1)).toLowerCase();
}
