import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { publishIq } from "../../faults/fault-helpers.js";
import { parseStanza } from "../fake-xmpp-server.js";
import { BENCH_SECRET, nodeOf } from "../seed.js";
import type { Rng } from "./fuzz-rng.js";
import { clone, fromElement, replaceValues, setAttr, x, type XEl } from "./fuzz-tree.js";
import { oddValue } from "./fuzz-values.js";
import { NS, SEEDED } from "./fuzz-world.js";

// The stanzas the grammar starts from, before any mutation: real publishes (the captured Prosody and
// ejabberd ones and publishIq, pointed at a seeded node with the right secret) and the other requests
// a push service sees (disco, ping, version, a client's enable, messages, presences, nonzas, IQ
// results). Starting from real traffic keeps the mutations close to what servers actually send.
// The registration commands are in fuzz-command-base.ts.

const FIXTURES = (() => {
  const dir = join(import.meta.dirname, "../../fixtures/captured");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".xml"))
    .sort()
    .map((f) => ({ name: f.replace(/\.xml$/, ""), tree: fromElement(parseStanza(readFileSync(join(dir, f), "utf8").trim())) }));
})();
const SERVER_PUBLISHES = FIXTURES.filter((f) => !f.name.startsWith("client-"));
const CLIENT_ENABLE = FIXTURES.find((f) => f.name.startsWith("client-"))!;

export function publishBase(r: Rng): { tree: XEl; label: string } {
  const node = nodeOf(r.int(0, SEEDED - 1));
  if (r.chance(0.3)) return { tree: fromElement(parseStanza(publishIq(node, BENCH_SECRET))), label: "publishIq" };
  const f = r.pick(SERVER_PUBLISHES);
  const tree = clone(f.tree);
  replaceValues(tree, (v) => (v === "testnode123" ? node : v === "s3cr3t" ? BENCH_SECRET : v));
  return { tree, label: f.name };
}

export function otherBase(r: Rng): { tree: XEl; label: string } {
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
