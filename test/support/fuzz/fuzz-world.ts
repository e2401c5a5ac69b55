// What the generator and the oracle both assume of the server under test: the namespaces they speak,
// how many registrations the database was seeded with (nodeOf(0..SEEDED-1), BENCH_SECRET), and the
// Tigase provider id the app is configured with. One place, so the two cannot drift apart.

export const SEEDED = 300;
export const TIGASE_PROVIDER = "tigase:messenger:apns:1";

export const NS = {
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
