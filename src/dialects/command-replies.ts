import type { ApnsEnvironment, ApnsPushType } from "../domain/registration.js";
import type { RegisterResult } from "../registration/registration-service.js";
import { fieldValue, type DataForm, type FormField } from "../xmpp/data-form.js";
import { stanzaErrors, type StanzaErrorSpec } from "../xmpp/stanza-errors.js";

// Shared by the XMPP registration dialects (ad-hoc commands): optional fields every dialect accepts, and how a refused
// registration is told to the client.

/** undefined when absent, null when present but invalid. */
export function optionalEnvironment(form: DataForm): ApnsEnvironment | undefined | null {
  const v =
    fieldValue(form, "environment") ??
    (fieldValue(form, "sandbox") !== undefined ? (isTrue(fieldValue(form, "sandbox")) ? "sandbox" : "production") : undefined);
  if (v === undefined) return undefined;
  return v === "sandbox" || v === "production" ? v : null;
}

export function optionalPushType(form: DataForm): ApnsPushType | undefined | null {
  const v = fieldValue(form, "push-type");
  if (v === undefined) return undefined;
  return v === "alert" || v === "background" ? v : null;
}

function isTrue(v: string | undefined): boolean {
  return v === "true" || v === "1";
}

export function refusalError(result: Extract<RegisterResult, { ok: false }>): StanzaErrorSpec {
  switch (result.reason) {
    case "invalid":
    case "app":
      return stanzaErrors.badRequest(result.message);
    case "domain":
      return stanzaErrors.forbidden(result.message);
    case "limit":
    case "secret-required":
      return stanzaErrors.notAllowed(result.message);
    case "node-taken":
      return stanzaErrors.conflict(result.message);
  }
}

/** What p2 and mod_push_appserver answer a registration with: the push service's JID, node and secret. */
export function registeredFields(componentJid: string, result: Extract<RegisterResult, { ok: true }>): FormField[] {
  return [
    { var: "jid", value: componentJid },
    { var: "node", value: result.registration.node },
    { var: "secret", value: result.secret ?? "" },
  ];
}
