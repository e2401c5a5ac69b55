import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import formbody from "@fastify/formbody";
import rateLimit from "@fastify/rate-limit";
import type { Config } from "../config/config-schema.js";
import { tokensEqual } from "../domain/secret.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { DeliveryAudit } from "../ports/delivery-audit.js";
import type { RegistrationStore } from "../ports/registration-store.js";
import type { RegistrationService } from "../registration/registration-service.js";
import { adminRoutes } from "./admin-routes.js";
import { registrationRoutes } from "./registration-routes.js";

// The HTTP side: health and readiness for orchestrators, Prometheus metrics, registration for apps
// that register over HTTP (mod_push_appserver's API and a JSON one), and an admin API.

export interface Readiness {
  /** Empty when ready; otherwise why not ("xmpp: connecting", "database: …"). */
  check(): Promise<string[]>;
}

export interface HttpDeps {
  readonly config: Pick<Config, "http" | "component">;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly registrations: RegistrationService;
  readonly registrationStore: RegistrationStore;
  readonly audit: DeliveryAudit;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function createHttpServer(deps: HttpDeps): HttpServer {
  const { config, log, metrics, readiness } = deps;
  const app = fastify({
    bodyLimit: config.http.bodyLimitBytes,
    // Our own structured log lines instead of fastify's per-request ones (which would log URLs with nodes).
    logger: false,
    // Behind a reverse proxy, set trustProxy there; by default the socket address is the client.
    trustProxy: false,
    return503OnClosing: true,
  });

  void app.register(formbody);
  void app.register(rateLimit, {
    global: true,
    max: config.http.requestsPerMinute,
    timeWindow: 60_000,
    // Probes and scrapes come from the orchestrator, often and on purpose.
    allowList: (req) => ["/healthz", "/readyz", "/metrics"].includes(req.url.split("?")[0]!),
    errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: `too many requests; retry in ${Math.ceil(ctx.ttl / 1000)} s` }),
  });

  app.addHook("onResponse", async (req, reply) => {
    metrics.httpRequests.inc({ route: req.routeOptions.url ?? "unknown", status: String(reply.statusCode) });
  });

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    const status = err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
    if (status >= 500) log.error({ err: { message: err.message }, route: req.routeOptions.url }, "HTTP request failed");
    // Messages of our own errors and of fastify's 4xx are safe to show; a 5xx says nothing internal.
    void reply.status(status).send({ error: status >= 500 ? "internal error" : err.message });
  });
  app.setNotFoundHandler((_req, reply) => void reply.status(404).send({ error: "not found" }));

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const reasons = await readiness.check();
    if (reasons.length > 0) return reply.status(503).send({ status: "not ready", reasons });
    return { status: "ready" };
  });
  app.get("/metrics", async (_req, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });

  void app.register(registrationRoutes(deps, bearer(config.http.registrationToken, "registration")));
  void app.register(adminRoutes(deps, bearer(config.http.adminToken, "admin")));

  return {
    app,
    async listen() {
      return app.listen({ host: config.http.host, port: config.http.port });
    },
    async close() {
      await app.close();
    },
  };
}

/** A preHandler that requires `Authorization: Bearer <token>`; the routes are off when no token is configured. */
export function bearer(token: string | undefined, what: string) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    if (token === undefined) throw new HttpError(404, `the ${what} API is disabled (no ${what} token configured)`);
    const header = req.headers.authorization ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !tokensEqual(m[1]!.trim(), token)) throw new HttpError(401, "missing or wrong bearer token");
  };
}
