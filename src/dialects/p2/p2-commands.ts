import type { AddressKind } from "../../domain/registration.js";
import type { RegistrationService } from "../../registration/registration-service.js";
import type { AdhocCommand, CommandResult } from "../../xmpp/adhoc-commands.js";
import { fieldValue } from "../../xmpp/data-form.js";
import { optionalEnvironment, optionalPushType, refusalError, registeredFields } from "../command-replies.js";
import { stanzaErrors } from "../../xmpp/stanza-errors.js";
import { p2Dialect } from "./p2-dialect.js";

// Conversations' p2 dialect (iNPUTmice/p2 PushController): `register-push-<service>` with `token`,
// `device-id` (older clients: `android-id`) and an optional `muc` → `jid`, `node`, `secret`; one
// registration per (account, device, channel), registering again keeps the node and hands out a new secret.
// `unregister-push-<service>` with the device id (and `channel`/`muc` for a MUC registration).
// Our additions, all optional: `app`, `environment` (sandbox|production), `push-type`, `voip-token`.

export function p2Commands({ registrations, componentJid }: { registrations: RegistrationService; componentJid: string }): AdhocCommand[] {
  return (["apns", "fcm", "jpush"] as const).flatMap((provider) => [register(provider), unregister(provider)]);

  function register(provider: AddressKind): AdhocCommand {
    return {
      dialect: p2Dialect.name,
      node: `register-push-${provider}`,
      name: `Register a device for ${provider.toUpperCase()} push`,
      formFields: () => [
        { var: "token", type: "text-single", label: `${provider.toUpperCase()} device token`, required: true },
        { var: "device-id", type: "text-single", label: "A stable id of this device/app installation", required: true },
        { var: "muc", type: "jid-single", label: "Group chat (optional)" },
        // JPush passes it on to APNs for its iOS devices (apns_production).
        ...(provider === "apns" || provider === "jpush"
          ? [{ var: "environment", type: "list-single", label: "sandbox or production (optional)" }]
          : []),
      ],
      async execute({ bareJid, form }): Promise<CommandResult> {
        const token = fieldValue(form, "token");
        const deviceId = fieldValue(form, "device-id") ?? fieldValue(form, "android-id");
        const muc = fieldValue(form, "muc");
        if (token === undefined || deviceId === undefined) return { error: stanzaErrors.badRequest("token and device-id are required") };
        if (muc !== undefined && muc.includes("/")) return { error: stanzaErrors.badRequest("muc must be a bare JID") };
        const environment = optionalEnvironment(form);
        const pushType = optionalPushType(form);
        if (environment === null || pushType === null)
          return { error: stanzaErrors.badRequest("environment must be sandbox or production; push-type alert or background") };
        const app = fieldValue(form, "app");
        const voipToken = fieldValue(form, "voip-token");
        const result = await registrations.register({
          ownerJid: bareJid,
          ...(app !== undefined ? { app } : {}),
          deviceId,
          ...(muc !== undefined ? { channel: muc.toLowerCase() } : {}),
          dialect: p2Dialect.name,
          provider,
          token,
          ...(environment !== undefined ? { environment } : {}),
          ...(pushType !== undefined ? { pushType } : {}),
          ...(voipToken !== undefined ? { voipToken } : {}),
          withSecret: true,
        });
        if (!result.ok) return { error: refusalError(result) };
        return { fields: registeredFields(componentJid, result) };
      },
    };
  }

  function unregister(provider: AddressKind): AdhocCommand {
    return {
      dialect: p2Dialect.name,
      node: `unregister-push-${provider}`,
      name: `Unregister a device from ${provider.toUpperCase()} push`,
      formFields: () => [
        { var: "device-id", type: "text-single", required: true },
        { var: "channel", type: "jid-single", label: "Group chat (optional)" },
      ],
      async execute({ bareJid, form }): Promise<CommandResult> {
        const deviceId = fieldValue(form, "device-id") ?? fieldValue(form, "android-id");
        if (deviceId === undefined) return { error: stanzaErrors.badRequest("device-id is required") };
        const channel = fieldValue(form, "channel") ?? fieldValue(form, "muc");
        const app = fieldValue(form, "app");
        const removed = await registrations.unregister({
          ownerJid: bareJid,
          deviceId,
          provider,
          ...(app !== undefined ? { app } : {}),
          ...(channel !== undefined ? { channel: channel.toLowerCase() } : {}),
        });
        if (!removed) return { error: stanzaErrors.itemNotFound("no such registration") };
        return { fields: [], note: "unregistered" };
      },
    };
  }
}
