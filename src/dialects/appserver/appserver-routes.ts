import type { FastifyInstance, FastifyReply } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
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
import { appserverDialect } from "./appserver-dialect.js";

// mod_push_appserver's HTTP API (form-encoded; replies "OK\n<node>\n<secret>" or "ERROR\n<reason>"),
// so apps written for it keep working. Behind a registration bearer token, in that token's space.

const appserverRegister = z.object({
  type: providerField,
  node: z.string().min(1).max(256),
  token: z.string().min(1).max(4096),
  app: z.string().optional(),
  environment: environmentField.optional(),
  jid: jidField.optional(),
});
const appserverUnregister = z.object({ type: providerField, node: nodeField, app: z.string().optional(), jid: jidField.optional() });
const appserverReply = z.string().describe('"OK\\n<node>\\n<secret>\\n" or "ERROR\\n<reason>\\n" (text/plain)');

export function appserverRoutes(untyped: FastifyInstance, ctx: RegistrationRouteContext): void {
  const app = untyped.withTypeProvider<ZodTypeProvider>();
  const { registrations, auth } = ctx;
  const tags = ["registration"];
  app.get("/push_appserver/v1/health", { schema: { tags, summary: "mod_push_appserver's health check: RUNNING" } }, async (_req, reply) =>
    reply.type("text/plain").send("RUNNING"),
  );

  // The form routes answer their own "ERROR" text instead of JSON, so validation is attached, not thrown.
  const formSchema = <T extends z.ZodType>(body: T, summary: string) => ({
    tags,
    summary,
    security: BEARER,
    consumes: ["application/x-www-form-urlencoded"],
    body,
    response: {
      200: appserverReply,
      400: appserverReply,
      403: appserverReply,
      404: appserverReply,
      409: appserverReply,
      429: appserverReply,
    },
  });
  const texter = (reply: FastifyReply) => (status: number, lines: string[]) =>
    reply
      .status(status)
      .type("text/plain")
      .send(`${lines.join("\n")}\n`);

  app.post(
    "/push_appserver/v1/register",
    {
      preParsing: auth,
      attachValidation: true,
      schema: formSchema(appserverRegister, "Register a device (mod_push_appserver's form API)"),
    },
    async (req, reply) => {
      const text = texter(reply as FastifyReply);
      if (req.validationError) return text(400, ["ERROR", "type (apns, fcm or jpush), node and token are required"]);
      const b = req.body;
      const { refusal, space } = ctx.scoped(req, b.app, ownerOf(b.jid));
      if (refusal) return text(403, ["ERROR", refusal]);
      const result = await registrations.register({
        ownerJid: ownerOf(b.jid),
        deviceId: b.node,
        node: b.node,
        dialect: appserverDialect.name,
        provider: b.type,
        token: b.token,
        withSecret: true,
        ...space,
        ...(b.app !== undefined ? { app: b.app } : {}),
        ...(b.environment !== undefined ? { environment: b.environment } : {}),
      });
      if (!result.ok) return text(REFUSAL_STATUS[result.reason], ["ERROR", result.message]);
      return text(200, ["OK", result.registration.node, result.secret ?? ""]);
    },
  );

  app.post(
    "/push_appserver/v1/unregister",
    {
      preParsing: auth,
      attachValidation: true,
      schema: formSchema(appserverUnregister, "Unregister a device (mod_push_appserver's form API)"),
    },
    async (req, reply) => {
      const text = texter(reply as FastifyReply);
      if (req.validationError) return text(400, ["ERROR", "type and node are required"]);
      const b = req.body;
      const removed = await registrations.unregister({
        ownerJid: ownerOf(b.jid),
        deviceId: b.node,
        provider: b.type,
        registrar: ctx.registrarOf(req),
        ...(b.app !== undefined ? { app: b.app } : {}),
      });
      return removed ? text(200, ["OK", b.node]) : text(404, ["ERROR", "no such registration"]);
    },
  );
}
