import xml from "@xmpp/xml";
import type { AdhocCommand } from "./adhoc-commands.js";
import { reply, type IqHandler } from "./iq-router.js";
import { NS } from "./namespaces.js";
import { stanzaErrors } from "./stanza-errors.js";

// XEP-0030: clients find push services by the identity pubsub/push (XEP-0357 §6) and their commands
// through disco#items on the commands node (XEP-0050 §2.2). We pass server-encrypted payloads
// through untouched, so the Tigase encryption features are honest.
const FEATURES = [
  NS.push,
  NS.commands,
  NS.discoInfo,
  NS.discoItems,
  NS.dataForms,
  NS.ping,
  NS.version,
  NS.tigaseEncrypt,
  "tigase:push:encrypt:aes-128-gcm",
];

export function discoHandlers({ componentJid, commands }: { componentJid: string; commands: readonly AdhocCommand[] }): {
  info: IqHandler;
  items: IqHandler;
} {
  const byNode = new Map(commands.map((c) => [c.node, c]));
  return {
    info: (iq) => {
      const node = iq.payload.attrs.node;
      if (node === undefined) {
        return reply.result(
          xml(
            "query",
            { xmlns: NS.discoInfo },
            xml("identity", { category: "pubsub", type: "push", name: "xmpp-push" }),
            ...FEATURES.map((f) => xml("feature", { var: f })),
          ),
        );
      }
      if (node === NS.commands) {
        return reply.result(
          xml("query", { xmlns: NS.discoInfo, node }, xml("identity", { category: "automation", type: "command-list", name: "Commands" })),
        );
      }
      const command = byNode.get(node);
      if (!command) return reply.error(stanzaErrors.itemNotFound());
      return reply.result(
        xml(
          "query",
          { xmlns: NS.discoInfo, node },
          xml("identity", { category: "automation", type: "command-node", name: command.name }),
          xml("feature", { var: NS.commands }),
          xml("feature", { var: NS.dataForms }),
        ),
      );
    },
    items: (iq) => {
      const node = iq.payload.attrs.node;
      if (node === undefined) return reply.result(xml("query", { xmlns: NS.discoItems }));
      if (node !== NS.commands) return reply.error(stanzaErrors.itemNotFound());
      return reply.result(
        xml(
          "query",
          { xmlns: NS.discoItems, node },
          ...commands.map((c) => xml("item", { jid: componentJid, node: c.node, name: c.name })),
        ),
      );
    },
  };
}
