import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { HttpError } from "../../http/http-error.js";
import {
  BEARER,
  environmentField,
  jidField,
  nodeField,
  ownerOf,
  providerField,
  REFUSAL_STATUS,
  type RegistrationRouteContext,
} from "../../http/registration-context.js";
import { restDialect } from "./rest-dialect.js";

// The JSON registration API, POST/DELETE /v1/registrations, behind a registration bearer token: what a
// token registers, finds and deletes is only what it made itself (see http/registration-scopes.ts).

export const jsonRegister = z.strictObject({
  jid: jidField.optional(),
  app: z.string().optional(),
  deviceId: z.string().min(1).max(256),
  provider: providerField,
  token: z.string().min(1).max(4096),
  environment: environmentField.optional(),
  pushType: z.enum(["alert", "background"]).optional(),
  voipToken: z.string().max(400).optional(),
  node: nodeField.optional(),
});
export const jsonUnregister = z.union([
  z.strictObject({ node: nodeField }),
  z.strictObject({ jid: jidField.optional(), app: z.string().optional(), deviceId: z.string().min(1).max(256) }),
]);
const error = z.object({ error: z.string() });
const registered = z.object({ jid: z.string().describe("the push service's JID"), node: z.string(), secret: z.string().optional() });

export function restRoutes(untyped: FastifyInstance, ctx: RegistrationRouteContext): void {
  const app = untyped.withTypeProvider<ZodTypeProvider>();
  const { registrations, auth, componentJid } = ctx;
  const tags = ["registration"];
  const jsonErrors = { 400: error, 401: error, 403: error, 404: error, 409: error, 413: error, 429: error };

  app.post(
    "/v1/registrations",
    {
      preParsing: auth,
      schema: {
        tags,
        summary: "Register a device in this token's space; again: its node and secret",
        security: BEARER,
        body: jsonRegister,
        response: { 200: registered, 201: registered, ...jsonErrors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const { refusal, space } = ctx.scoped(req, b.app, ownerOf(b.jid));
      if (refusal) throw new HttpError(403, refusal);
      const result = await registrations.register({
        ownerJid: ownerOf(b.jid),
        deviceId: b.deviceId,
        dialect: restDialect.name,
        provider: b.provider,
        token: b.token,
        withSecret: true,
        ...space,
        ...(b.app !== undefined ? { app: b.app } : {}),
        ...(b.node !== undefined ? { node: b.node } : {}),
        ...(b.environment !== undefined ? { environment: b.environment } : {}),
        ...(b.pushType !== undefined ? { pushType: b.pushType } : {}),
        ...(b.voipToken !== undefined ? { voipToken: b.voipToken } : {}),
      });
      if (!result.ok) throw new HttpError(REFUSAL_STATUS[result.reason], result.message);
      return reply.status(result.created ? 201 : 200).send({ jid: componentJid, node: result.registration.node, secret: result.secret });
    },
  );

  app.delete(
    "/v1/registrations",
    {
      preParsing: auth,
      schema: {
        tags,
        summary: "Remove a device this token registered",
        security: BEARER,
        body: jsonUnregister,
        response: { 204: z.null().describe("removed, no body"), ...jsonErrors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const registrar = ctx.registrarOf(req);
      // Another space's node answers like a missing one: a token learns nothing about registrations not its own.
      const removed =
        "node" in b
          ? await registrations.removeNode(b.node, registrar)
          : await registrations.unregister({
              ownerJid: ownerOf(b.jid),
              deviceId: b.deviceId,
              registrar,
              ...(b.app !== undefined ? { app: b.app } : {}),
            });
      if (!removed) throw new HttpError(404, "no such registration");
      return (reply as FastifyReply).status(204).send();
    },
  );
}
