import xml, { type Element } from "@xmpp/xml";
import type { TestUser } from "./xmpp-client.js";

// A user running one of the push service's ad-hoc commands (XEP-0050) with a submitted form, as push
// clients do, and reading the result form. Shared by the tests, the demo and the benchmark.

const NS_COMMANDS = "http://jabber.org/protocol/commands";
const NS_DATA = "jabber:x:data";

export async function runCommand(user: TestUser, to: string, node: string, fields: Record<string, string>): Promise<Element> {
  return user.iq(
    xml(
      "iq",
      { type: "set", to },
      xml(
        "command",
        { xmlns: NS_COMMANDS, node, action: "execute" },
        xml(
          "x",
          { xmlns: NS_DATA, type: "submit" },
          ...Object.entries(fields).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))),
        ),
      ),
    ),
  );
}

export function resultField(reply: Element, name: string): string | undefined {
  return (
    reply
      .getChild("command", NS_COMMANDS)
      ?.getChild("x", NS_DATA)
      ?.getChildren("field")
      .find((f) => f.attrs.var === name)
      ?.getChildText("value") ?? undefined
  );
}
