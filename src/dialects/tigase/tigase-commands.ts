import { createHash } from "node:crypto";
import type { Config } from "../../config/config-schema.js";
import type { AddressKind } from "../../domain/registration.js";
import type { RegistrationService } from "../../registration/registration-service.js";
import type { AdhocCommand, CommandResult } from "../../xmpp/adhoc-commands.js";
import { fieldValue } from "../../xmpp/data-form.js";
import { optionalEnvironment, refusalError } from "../command-replies.js";
import { stanzaErrors } from "../../xmpp/stanza-errors.js";
import { tigaseDialect } from "./tigase-dialect.js";

// The Tigase push component's dialect (Siskin, Snikket iOS): `register-device` with `provider` (an id
// such as "tigase:messenger:apns:1" that names app and provider), `device-token` and optionally
// `device-second-token`, the PushKit (VoIP) token → `node`. No publish secret is handed out: such
// registrations are checked by node and the publishing server's domain only (apps may require secrets).
// `unregister-device` with `provider` and `device-token`.

export function tigaseCommands({
  registrations,
  config,
}: {
  registrations: RegistrationService;
  config: Pick<Config, "apps">;
}): AdhocCommand[] {
  const providers = new Map<string, { app: string; provider: AddressKind }>();
  for (const app of config.apps) {
    for (const [id, provider] of Object.entries(app.tigase?.providers ?? {})) providers.set(id, { app: app.id, provider });
  }
  const providerField = () => ({ var: "provider", type: "list-single", required: true, value: [...providers.keys()][0] ?? "" });

  return [
    {
      dialect: tigaseDialect.name,
      node: "register-device",
      name: "Register device",
      formFields: () => [
        providerField(),
        { var: "device-token", type: "text-single", required: true },
        { var: "device-second-token", type: "text-single" },
      ],
      async execute({ bareJid, form }): Promise<CommandResult> {
        const target = providers.get(fieldValue(form, "provider") ?? "");
        const token = fieldValue(form, "device-token");
        if (!target) return { error: stanzaErrors.itemNotFound("unknown provider") };
        if (token === undefined) return { error: stanzaErrors.badRequest("device-token is required") };
        const voipToken = fieldValue(form, "device-second-token");
        const environment = optionalEnvironment(form);
        if (environment === null) return { error: stanzaErrors.badRequest("environment must be sandbox or production") };
        const result = await registrations.register({
          ownerJid: bareJid,
          app: target.app,
          // Tigase clients send no device id: the token identifies the installation.
          deviceId: `tigase:${createHash("sha256").update(`${target.provider}\u0000${token.toLowerCase()}`).digest("hex").slice(0, 32)}`,
          dialect: tigaseDialect.name,
          provider: target.provider,
          token,
          ...(environment !== undefined ? { environment } : {}),
          ...(voipToken !== undefined ? { voipToken } : {}),
          withSecret: false,
        });
        if (!result.ok) return { error: refusalError(result) };
        return { fields: [{ var: "node", value: result.registration.node }] };
      },
    },
    {
      dialect: tigaseDialect.name,
      node: "unregister-device",
      name: "Unregister device",
      formFields: () => [providerField(), { var: "device-token", type: "text-single", required: true }],
      async execute({ bareJid, form }): Promise<CommandResult> {
        const target = providers.get(fieldValue(form, "provider") ?? "");
        const token = fieldValue(form, "device-token");
        if (!target || token === undefined) return { error: stanzaErrors.badRequest("provider and device-token are required") };
        const removed = await registrations.unregisterToken(bareJid, target.provider, token);
        if (removed === 0) return { error: stanzaErrors.itemNotFound("no such registration") };
        return { fields: [] };
      },
    },
  ];
}
