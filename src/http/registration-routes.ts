import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { RegisterResult, RegistrationService } from "../registration/registration-service.js";
import type { HttpDeps } from "./http-server.js";
import { HttpError } from "./http-server.js";

// Registration over HTTP, behind the registration bearer token:
// - mod_push_appserver's API (form-encoded; replies "OK\n<node>\n<secret>" or "ERROR\n<reason>"), so
//   apps written for it keep working;
// - a JSON API, POST/DELETE /v1/registrations.

const provider = z.enum(["apns", "jpush", "fcm"]);
const environment = z.enum(["sandbox", "production"]);

const appserverRegister = z.object({ type: provider, node: z.string().min(1).max(256), token: z.string().min(1).max(4096), app: z.string().optional(), environment: environment.optional(), jid: z.string().max(3071).optional() });
const appserverUnregister = z.object({ type: provider, node: z.string().min(1).max(256), app: z.string().optional(), jid: z.string().max(3071).optional() });

const jsonRegister = z.strictObject({
  jid: z.string().max(3071).optional(),
  app: z.string().optional(),
  deviceId: z.string().min(1).max(256),
  provider,
  token: z.string().min(1).max(4096),
  environment: environment.optional(),
  pushType: z.enum(["alert", "background"]).optional(),
  voipToken: z.string().max(400).optional(),
  node: z.string().min(1).max(256).optional(),
});
const jsonUnregister = z.union([
  z.strictObject({ node: z.string().min(1).max(256) }),
  z.strictObject({ jid: z.string().max(3071).optional(), app: z.string().optional(), deviceId: z.string().min(1).max(256) }),
]);

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (!r.success) throw new HttpError(400, r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; "));
  return r.data;
}

const REFUSAL_STATUS: Record<Extract<RegisterResult, { ok: false }>["reason"], number> = {
  invalid: 400,
  app: 400,
  domain: 403,
  "secret-required": 403,
  limit: 429,
  "node-taken": 409,
};

export function registrationRoutes(deps: HttpDeps, auth: (req: FastifyRequest, reply: FastifyReply) => Promise<void>) {
  const registrations: RegistrationService = deps.registrations;
  const componentJid = deps.config.component.domain;
  const bare = (jid: string | undefined) => (jid ?? "").split("/")[0]!.toLowerCase();

  return async (app: FastifyInstance) => {
    app.get("/push_appserver/v1/health", async (_req, reply) => reply.type("text/plain").send("RUNNING"));

    app.post("/push_appserver/v1/register", { preHandler: auth }, async (req, reply) => {
      const text = (status: number, lines: string[]) => reply.status(status).type("text/plain").send(`${lines.join("\n")}\n`);
      const r = appserverRegister.safeParse(req.body ?? {});
      if (!r.success) return text(400, ["ERROR", "type (apns, fcm or jpush), node and token are required"]);
      const b = r.data;
      const result = await registrations.register({
        ownerJid: bare(b.jid),
        deviceId: b.node,
        node: b.node,
        dialect: "appserver",
        provider: b.type,
        token: b.token,
        withSecret: true,
        ...(b.app !== undefined ? { app: b.app } : {}),
        ...(b.environment !== undefined ? { environment: b.environment } : {}),
      });
      if (!result.ok) return text(REFUSAL_STATUS[result.reason], ["ERROR", result.message]);
      return text(200, ["OK", result.registration.node, result.secret ?? ""]);
    });

    app.post("/push_appserver/v1/unregister", { preHandler: auth }, async (req, reply) => {
      const text = (status: number, lines: string[]) => reply.status(status).type("text/plain").send(`${lines.join("\n")}\n`);
      const r = appserverUnregister.safeParse(req.body ?? {});
      if (!r.success) return text(400, ["ERROR", "type and node are required"]);
      const removed = await registrations.unregister({ ownerJid: bare(r.data.jid), deviceId: r.data.node, provider: r.data.type, ...(r.data.app !== undefined ? { app: r.data.app } : {}) });
      return removed ? text(200, ["OK", r.data.node]) : text(404, ["ERROR", "no such registration"]);
    });

    app.post("/v1/registrations", { preHandler: auth }, async (req, reply) => {
      const b = parse(jsonRegister, req.body);
      const result = await registrations.register({
        ownerJid: bare(b.jid),
        deviceId: b.deviceId,
        dialect: "rest",
        provider: b.provider,
        token: b.token,
        withSecret: true,
        ...(b.app !== undefined ? { app: b.app } : {}),
        ...(b.node !== undefined ? { node: b.node } : {}),
        ...(b.environment !== undefined ? { environment: b.environment } : {}),
        ...(b.pushType !== undefined ? { pushType: b.pushType } : {}),
        ...(b.voipToken !== undefined ? { voipToken: b.voipToken } : {}),
      });
      if (!result.ok) throw new HttpError(REFUSAL_STATUS[result.reason], result.message);
      return reply.status(result.created ? 201 : 200).send({ jid: componentJid, node: result.registration.node, secret: result.secret });
    });

    app.delete("/v1/registrations", { preHandler: auth }, async (req, reply) => {
      const b = parse(jsonUnregister, req.body);
      const removed =
        "node" in b
          ? await registrations.removeNode(b.node)
          : await registrations.unregister({ ownerJid: bare(b.jid), deviceId: b.deviceId, ...(b.app !== undefined ? { app: b.app } : {}) });
      if (!removed) throw new HttpError(404, "no such registration");
      return reply.status(204).send();
    });
  };
}
