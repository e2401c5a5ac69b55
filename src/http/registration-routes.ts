import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { appserverRoutes } from "../dialects/appserver/appserver-routes.js";
import { restRoutes } from "../dialects/rest/rest-routes.js";
import { HttpError, presentedBearer } from "./http-error.js";
import type { HttpDeps } from "./http-server.js";
import type { RegistrationRouteContext } from "./registration-context.js";
import type { RegistrationScope, registrationScopes } from "./registration-scopes.js";

// Registration over HTTP, behind a registration bearer token: mod_push_appserver's form API
// (src/dialects/appserver/appserver-routes.ts) and the JSON API (src/dialects/rest/rest-routes.ts).
// Each token works in its own space (see registration-scopes.ts): what it registers, finds and deletes
// is only what it made itself.

export function registrationRoutes(deps: Pick<HttpDeps, "registrations" | "config">, scopes: ReturnType<typeof registrationScopes>) {
  const scopeOf = new WeakMap<FastifyRequest, RegistrationScope>();

  // A preParsing hook (see bearer() in http-server.ts): runs after the rate limit, before the body is read.
  const auth = async (req: FastifyRequest, _reply: FastifyReply) => {
    if (!scopes.any) throw new HttpError(404, "the registration API is disabled (no registration token configured)");
    const presented = presentedBearer(req);
    const scope = presented !== undefined ? scopes.find(presented) : undefined;
    if (!scope) throw new HttpError(401, "missing or wrong bearer token");
    scopeOf.set(req, scope);
  };
  const ctx: RegistrationRouteContext = {
    registrations: deps.registrations,
    componentJid: deps.config.component.domain,
    auth,
    scoped(req, app, ownerJid) {
      const scope = scopeOf.get(req)!;
      return { refusal: scope.refusal(app ?? "", ownerJid), space: { registrar: scope.registrar, withoutJidLimit: scope.withoutJidLimit } };
    },
    registrarOf: (req) => scopeOf.get(req)!.registrar,
  };

  return async (app: FastifyInstance) => {
    appserverRoutes(app, ctx);
    restRoutes(app, ctx);
  };
}
