import type { AddressKind } from "../../domain/registration.js";
import type { RegistrationService } from "../../registration/registration-service.js";
import type { AdhocCommand, CommandResult } from "../../xmpp/adhoc-commands.js";
import { fieldValue } from "../../xmpp/data-form.js";
import { optionalEnvironment, refusalError, registeredFields } from "../command-replies.js";
import { stanzaErrors } from "../../xmpp/stanza-errors.js";
import { appserverDialect } from "./appserver-dialect.js";

// mod_push_appserver's dialect (old Monal): `v1-register-push` with `type` (apns|fcm),
// a client-chosen `node` (a static device id that becomes the XEP-0357 node) and `token` → `jid`,
// `node`, `secret`; registering again hands out a new secret (the old one stops working). `v1-unregister-push` with `type` and `node`.
// We also accept `jpush` as type, and the optional `app` and `environment` fields.

const FORM_TYPE_BASE = "https://github.com/tmolitor-stud-tu/mod_push_appserver/#";
const TYPES: Record<string, AddressKind> = { apns: "apns", fcm: "fcm", jpush: "jpush" };

export function appserverCommands({
  registrations,
  componentJid,
}: {
  registrations: RegistrationService;
  componentJid: string;
}): AdhocCommand[] {
  const formType = (name: string) => ({ var: "FORM_TYPE", type: "hidden", value: `${FORM_TYPE_BASE}${name}` });
  return [
    {
      dialect: appserverDialect.name,
      node: "v1-register-push",
      name: "Register a device (mod_push_appserver v1)",
      formFields: () => [
        formType("v1-register-push"),
        { var: "type", type: "list-single", required: true },
        { var: "node", required: true },
        { var: "token", required: true },
      ],
      async execute({ bareJid, form }): Promise<CommandResult> {
        if (form.formType !== undefined && form.formType !== `${FORM_TYPE_BASE}v1-register-push`)
          return { error: stanzaErrors.badRequest("unknown FORM_TYPE") };
        const provider = TYPES[fieldValue(form, "type") ?? ""];
        const node = fieldValue(form, "node");
        const token = fieldValue(form, "token");
        if (!provider || node === undefined || token === undefined)
          return { error: stanzaErrors.badRequest("type (apns, fcm or jpush), node and token are required") };
        const environment = optionalEnvironment(form);
        if (environment === null) return { error: stanzaErrors.badRequest("environment must be sandbox or production") };
        const app = fieldValue(form, "app");
        const result = await registrations.register({
          ownerJid: bareJid,
          ...(app !== undefined ? { app } : {}),
          deviceId: node,
          node,
          dialect: appserverDialect.name,
          provider,
          token,
          ...(environment !== undefined ? { environment } : {}),
          withSecret: true,
        });
        if (!result.ok) return { error: refusalError(result) };
        return { fields: registeredFields(componentJid, result) };
      },
    },
    {
      dialect: appserverDialect.name,
      node: "v1-unregister-push",
      name: "Unregister a device (mod_push_appserver v1)",
      formFields: () => [
        formType("v1-unregister-push"),
        { var: "type", type: "list-single", required: true },
        { var: "node", required: true },
      ],
      async execute({ bareJid, form }): Promise<CommandResult> {
        const provider = TYPES[fieldValue(form, "type") ?? ""];
        const node = fieldValue(form, "node");
        if (!provider || node === undefined) return { error: stanzaErrors.badRequest("type and node are required") };
        const app = fieldValue(form, "app");
        const removed = await registrations.unregister({
          ownerJid: bareJid,
          deviceId: node,
          provider,
          ...(app !== undefined ? { app } : {}),
        });
        if (!removed) return { error: stanzaErrors.itemNotFound("no such registration") };
        return {
          fields: [
            { var: "jid", value: componentJid },
            { var: "node", value: node },
          ],
        };
      },
    },
  ];
}
