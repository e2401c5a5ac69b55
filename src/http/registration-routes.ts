import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { RegisterResult, RegistrationService } from "../registration/registration-service.js";
import type { HttpDeps } from "./http-server.js";
import { HttpError, presentedBearer } from "./http-server.js";
import type { RegistrationScope, registrationScopes } from "./registration-scopes.js";

// Registration over HTTP, behind a registration bearer token:
// - mod_push_appserver's API (form-encoded; replies "OK\n<node>\n<secret>" or "ERROR\n<reason>"), so
//   apps written for it keep working;
// - a JSON API, POST/DELETE /v1/registrations.
// Each token works in its own space (see registration-scopes.ts): what it registers, finds and deletes
// is only what it made itself.

const provider = z.enum(["apns", "jpush", "fcm"]);
const environment = z.enum(["sandbox", "production"]);
// The characters a node may have (the service checks the same for registrations): refused here for
// deletes too, so a NUL byte never reaches the database.
const node = z.string().regex(/^[A-Za-z0-9._~:@+=-]{1,256}$/, "must be 1 to 256 URL-safe characters");

const appserverRegister = z.object({ type: provider, node: z.string().min(1).max(256), token: z.string().min(1).max(4096), app: z.string().optional(), environment: environment.optional(), jid: z.string().max(3071).optional() });
const appserverUnregister = z.object({ type: provider, node, app: z.string().optional(), jid: z.string().max(3071).optional() });
const appserverReply = z.string().describe('"OK\\n<node>\\n<secret>\\n" or "ERROR\\n<reason>\\n" (text/plain)');
const error = z.object({ error: z.string() });
const registered = z.object({ jid: z.string().describe("the push service's JID"), node: z.string(), secret: z.string().optional() });
const BEARER = [{ bearer: [] }];

export const jsonRegister = z.strictObject({
  jid: z.string().max(3071).optional(),
  app: z.string().optional(),
  deviceId: z.string().min(1).max(256),
  provider,
  token: z.string().min(1).max(4096),
  environment: environment.optional(),
  pushType: z.enum(["alert", "background"]).optional(),
  voipToken: z.string().max(400).optional(),
  node: node.optional(),
});
export const jsonUnregister = z.union([
  z.strictObject({ node }),
  z.strictObject({ jid: z.string().max(3071).optional(), app: z.string().optional(), deviceId: z.string().min(1).max(256) }),
]);

const REFUSAL_STATUS: Record<Extract<RegisterResult, { ok: false }>["reason"], number> = {
  invalid: 400,
  app: 400,
  domain: 403,
  "secret-required": 403,
  limit: 429,
  "node-taken": 409,
};

export function registrationRoutes(deps: HttpDeps, scopes: ReturnType<typeof registrationScopes>) {
  const registrations: RegistrationService = deps.registrations;
  const componentJid = deps.config.component.domain;
  const bare = (jid: string | undefined) => (jid ?? "").split("/")[0]!.toLowerCase();
  const scopeOf = new WeakMap<FastifyRequest, RegistrationScope>();

  // A preParsing hook (see bearer() in http-server.ts): runs after the rate limit, before the body is read.
  const auth = async (req: FastifyRequest, _reply: FastifyReply) => {
    if (!scopes.any) throw new HttpError(404, "the registration API is disabled (no registration token configured)");
    const presented = presentedBearer(req);
    const scope = presented !== undefined ? scopes.find(presented) : undefined;
    if (!scope) throw new HttpError(401, "missing or wrong bearer token");
    scopeOf.set(req, scope);
  };
  const scoped = (req: FastifyRequest, app: string | undefined, jid: string) => {
    const scope = scopeOf.get(req)!;
    const refusal = scope.refusal(app ?? "", jid);
    return { scope, refusal, space: { registrar: scope.registrar, withoutJidLimit: scope.withoutJidLimit } };
  };

  return async (untyped: FastifyInstance) => {
    const app = untyped.withTypeProvider<ZodTypeProvider>();
    const tags = ["registration"];
    app.get("/push_appserver/v1/health", { schema: { tags, summary: "mod_push_appserver's health check: RUNNING" } }, async (_req, reply) => reply.type("text/plain").send("RUNNING"));

    // The form routes answer their own "ERROR" text instead of JSON, so validation is attached, not thrown.
    const formSchema = <T extends z.ZodType>(body: T, summary: string) => ({
      tags,
      summary,
      security: BEARER,
      consumes: ["application/x-www-form-urlencoded"],
      body,
      response: { 200: appserverReply, 400: appserverReply, 403: appserverReply, 404: appserverReply, 409: appserverReply, 429: appserverReply },
    });

    app.post("/push_appserver/v1/register", { preParsing: auth, attachValidation: true, schema: formSchema(appserverRegister, "Register a device (mod_push_appserver's form API)") }, async (req, reply) => {
      const text = (status: number, lines: string[]) => (reply as FastifyReply).status(status).type("text/plain").send(`${lines.join("\n")}\n`);
      if (req.validationError) return text(400, ["ERROR", "type (apns, fcm or jpush), node and token are required"]);
      const b = req.body;
      const { refusal, space } = scoped(req, b.app, bare(b.jid));
      if (refusal) return text(403, ["ERROR", refusal]);
      const result = await registrations.register({
        ownerJid: bare(b.jid),
        deviceId: b.node,
        node: b.node,
        dialect: "appserver",
        provider: b.type,
        token: b.token,
        withSecret: true,
        ...space,
        ...(b.app !== undefined ? { app: b.app } : {}),
        ...(b.environment !== undefined ? { environment: b.environment } : {}),
      });
      if (!result.ok) return text(REFUSAL_STATUS[result.reason], ["ERROR", result.message]);
      return text(200, ["OK", result.registration.node, result.secret ?? ""]);
    });

    app.post("/push_appserver/v1/unregister", { preParsing: auth, attachValidation: true, schema: formSchema(appserverUnregister, "Unregister a device (mod_push_appserver's form API)") }, async (req, reply) => {
      const text = (status: number, lines: string[]) => (reply as FastifyReply).status(status).type("text/plain").send(`${lines.join("\n")}\n`);
      if (req.validationError) return text(400, ["ERROR", "type and node are required"]);
      const b = req.body;
      const { registrar } = scopeOf.get(req)!;
      const removed = await registrations.unregister({
        ownerJid: bare(b.jid),
        deviceId: b.node,
        provider: b.type,
        registrar,
        ...(b.app !== undefined ? { app: b.app } : {}),
      });
      return removed ? text(200, ["OK", b.node]) : text(404, ["ERROR", "no such registration"]);
    });

    const jsonErrors = { 400: error, 401: error, 403: error, 404: error, 409: error, 413: error, 429: error };
    app.post("/v1/registrations", {
      preParsing: auth,
      schema: { tags, summary: "Register a device in this token's space; again: its node and secret", security: BEARER, body: jsonRegister, response: { 200: registered, 201: registered, ...jsonErrors } },
    }, async (req, reply) => {
      const b = req.body;
      const { refusal, space } = scoped(req, b.app, bare(b.jid));
      if (refusal) throw new HttpError(403, refusal);
      const result = await registrations.register({
        ownerJid: bare(b.jid),
        deviceId: b.deviceId,
        dialect: "rest",
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
    });

    app.delete("/v1/registrations", {
      preParsing: auth,
      schema: { tags, summary: "Remove a device this token registered", security: BEARER, body: jsonUnregister, response: { 204: z.null().describe("removed, no body"), ...jsonErrors } },
    }, async (req, reply) => {
      const b = req.body;
      const { registrar } = scopeOf.get(req)!;
      // Another space's node answers like a missing one: a token learns nothing about registrations not its own.
      const removed =
        "node" in b
          ? await registrations.removeNode(b.node, registrar)
          : await registrations.unregister({ ownerJid: bare(b.jid), deviceId: b.deviceId, registrar, ...(b.app !== undefined ? { app: b.app } : {}) });
      if (!removed) throw new HttpError(404, "no such registration");
      return (reply as FastifyReply).status(204).send();
    });
  };
}
