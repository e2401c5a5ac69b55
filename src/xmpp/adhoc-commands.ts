import { randomBytes } from "node:crypto";
import xml, { type Element } from "@xmpp/xml";
import { bareJid as bareOf } from "../domain/jid.js";
import type { Dialect } from "../domain/registration.js";
import { buildForm, findForms, type DataForm, type FormField } from "./data-form.js";
import { reply, type IncomingIq, type IqHandler } from "./iq-router.js";
import { NS } from "./namespaces.js";
import { stanzaErrors, type StanzaErrorSpec } from "./stanza-errors.js";

// XEP-0050 ad-hoc commands, the way push clients use them: one `execute` carrying a submitted form
// (Conversations, Monal, Siskin), or a bare `execute` that first asks for the form (a generic client
// such as Gajim, used by a person testing a setup). Stateless: the submitted form carries everything.

export interface CommandContext {
  /** The requesting entity's bare JID (a user of one of the served domains). */
  readonly bareJid: string;
  readonly form: DataForm;
}

export type CommandResult = { readonly fields: readonly FormField[]; readonly note?: string } | { readonly error: StanzaErrorSpec };

export interface AdhocCommand {
  /** The dialect it belongs to: the `dialect` label of its metric. */
  readonly dialect: Dialect;
  readonly node: string;
  readonly name: string;
  /** The form a client fills in; shown when it executes the command without one. */
  readonly formFields: () => readonly FormField[];
  execute(ctx: CommandContext): Promise<CommandResult>;
}

export interface AdhocCommands {
  readonly list: readonly AdhocCommand[];
  readonly handler: IqHandler;
}

export function createAdhocCommands(commands: readonly AdhocCommand[]): AdhocCommands {
  const byNode = new Map(commands.map((c) => [c.node, c]));
  return {
    list: commands,
    async handler(iq: IncomingIq) {
      const node = iq.payload.attrs.node;
      const command = node === undefined ? undefined : byNode.get(node);
      if (!command) return reply.error(stanzaErrors.itemNotFound("no such command"));
      const action = iq.payload.attrs.action ?? "execute";
      const sessionid = iq.payload.attrs.sessionid ?? randomBytes(8).toString("hex");
      if (action === "cancel") return reply.result(commandElement(command.node, sessionid, "canceled"));
      if (action !== "execute" && action !== "complete" && action !== "next") {
        return reply.error(stanzaErrors.badRequest("unsupported action (use execute, complete or cancel)"));
      }
      const form = findForms(iq.payload).find((f) => f.type === "submit" || f.type === "");
      if (!form) {
        return reply.result(
          commandElement(command.node, sessionid, "executing", [
            xml("actions", { execute: "complete" }, xml("complete")),
            buildForm("form", command.formFields(), { title: command.name }),
          ]),
        );
      }
      // The router refused IQs whose sender is not a JID, so this is the account's bare JID.
      const bareJid = bareOf(iq.from) ?? "";
      if (bareJid === "") return reply.error(stanzaErrors.badRequest("the IQ's sender is not a JID"));
      const result = await command.execute({ bareJid, form });
      if ("error" in result) return reply.error(result.error);
      return reply.result(
        commandElement(command.node, sessionid, "completed", [
          result.note !== undefined ? xml("note", { type: "info" }, result.note) : undefined,
          buildForm("result", result.fields),
        ]),
      );
    },
  };
}

function commandElement(node: string, sessionid: string, status: string, children: Array<Element | undefined> = []): Element {
  return xml("command", { xmlns: NS.commands, node, sessionid, status }, ...children);
}
