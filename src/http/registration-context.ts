import type { FastifyRequest, preParsingAsyncHookHandler } from "fastify";
import { z } from "zod";
import { NODE_RULE, NODE_RULE_TEXT } from "../domain/device-token.js";
import { bareJid } from "../domain/jid.js";
import type { RegisterResult, RegistrationService } from "../registration/registration-service.js";

// What the HTTP registration dialects (src/dialects/appserver, src/dialects/rest) share: the bearer
// check and the token's space (registration-routes.ts fills these in), the status of each refusal,
// and the fields both accept.

export interface RegistrationRouteContext {
  readonly registrations: RegistrationService;
  /** The push service's JID, handed out with every registration. */
  readonly componentJid: string;
  /** preParsing hook: the request's registration token, or 401/404. */
  readonly auth: preParsingAsyncHookHandler;
  /** The token's verdict on this app and account, and the space its registrations go to. */
  scoped(
    req: FastifyRequest,
    app: string | undefined,
    ownerJid: string,
  ): { refusal: string | undefined; space: { registrar: string; withoutJidLimit?: number } };
  registrarOf(req: FastifyRequest): string;
}

export const REFUSAL_STATUS: Record<Extract<RegisterResult, { ok: false }>["reason"], number> = {
  invalid: 400,
  app: 400,
  domain: 403,
  "secret-required": 403,
  limit: 429,
  "node-taken": 409,
};

export const providerField = z.enum(["apns", "jpush", "fcm"]);
export const environmentField = z.enum(["sandbox", "production"]);
// Refused here for deletes too, so a NUL byte never reaches the database (the service checks the same for registrations).
export const nodeField = z.string().regex(NODE_RULE, NODE_RULE_TEXT);
export const jidField = z.string().max(3071);
export const BEARER = [{ bearer: [] }];

/**
 * The account a request names: its bare JID, "" when it names none. Text that is no JID stays as it
 * is, so the service refuses it as a domain it does not serve.
 */
export function ownerOf(jid: string | undefined): string {
  if (jid === undefined || jid === "") return "";
  return bareJid(jid) ?? jid.toLowerCase();
}
