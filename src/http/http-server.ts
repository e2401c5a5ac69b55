import { STATUS_CODES } from "node:http";
import { fastify, type FastifyInstance } from "fastify";
import formbody from "@fastify/formbody";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Config } from "../config/config-schema.js";
import { bearer, HttpError } from "./http-error.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { DeliveryAudit } from "../ports/delivery-audit.js";
import type { RegistrationStore } from "../ports/registration-store.js";
import type { RegistrationService } from "../registration/registration-service.js";
import { adminRoutes } from "./admin-routes.js";
import { registrationRoutes } from "./registration-routes.js";
import { describeIssues } from "./describe-issues.js";
import { probeRoutes } from "./probe-routes.js";
import { registrationScopes } from "./registration-scopes.js";
import type { Clock } from "../ports/clock.js";

// The HTTP side: health and readiness for orchestrators, Prometheus metrics, registration for apps
// that register over HTTP (mod_push_appserver's API and a JSON one), and an admin API.

/** Why this replica is not ready: a short public code, and the detail that only goes to the log. */
export interface NotReadyReason {
  readonly code: string;
  readonly detail: string;
}

export interface Readiness {
  /** Empty when ready. */
  check(): Promise<readonly NotReadyReason[]>;
}

export interface HttpDeps {
  readonly config: Pick<Config, "http" | "component" | "domains" | "defaultApp">;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly registrations: RegistrationService;
  readonly registrationStore: RegistrationStore;
  readonly audit: DeliveryAudit;
  /** "now" for the admin API's `since` windows. */
  readonly clock: Clock;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  /** Every route served (HEAD twins of GET routes left out), as fastify has them: "/admin/v1/registrations/:node". */
  routes(): ReadonlyArray<{ readonly method: string; readonly url: string }>;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** An error whose message is ours (never client input) and safe to send. */
// fastify's own 4xx messages may quote the request (a content type, a JSON parser's excerpt of the body):
// answered with fixed texts instead.
const FASTIFY_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "the body is not valid JSON",
  FST_ERR_CTP_EMPTY_JSON_BODY: "the body is empty",
  FST_ERR_CTP_BODY_TOO_LARGE: "the body is too large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported content type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "wrong content length",
};

const UNLIMITED_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

export function createHttpServer(deps: HttpDeps): HttpServer {
  const { config, log, metrics } = deps;
  const h = config.http;
  const app = fastify({
    bodyLimit: h.bodyLimitBytes,
    // Our own structured log lines instead of fastify's per-request ones (which would log URLs with nodes).
    logger: false,
    // Behind an ingress, its addresses: then the rate limit keys on the client it forwards for.
    trustProxy: h.trustProxy.length > 0 ? [...h.trustProxy] : false,
    return503OnClosing: true,
    // Slow clients (one byte every few seconds) must not hold sockets: headers, whole request and idle
    // time are bounded, and Node checks those deadlines every second instead of every 30 s.
    connectionTimeout: h.idleTimeoutMs,
    keepAliveTimeout: h.keepAliveTimeoutMs,
    requestTimeout: h.requestTimeoutMs,
    http: { headersTimeout: h.headersTimeoutMs, requestTimeout: h.requestTimeoutMs, connectionsCheckingInterval: 1000 },
  });
  app.server.maxConnections = h.maxConnections;
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) if (method !== "HEAD") routes.push({ method, url: r.url });
  });
  // The routes' zod schemas validate the requests and, through @fastify/swagger, make /openapi.json.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  void app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "xmpp-push HTTP API",
        version: "1",
        description: "Registration over HTTP, the admin API, health and metrics. See docs/operations.md.",
      },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    },
    transform: jsonSchemaTransform,
  });
  void app.register(formbody);
  void app.register(rateLimit, {
    global: true,
    max: h.requestsPerMinute,
    timeWindow: 60_000,
    // Probes and scrapes come from the orchestrator, often and on purpose.
    allowList: (req) => UNLIMITED_PATHS.has(req.url.split("?")[0]!),
    // Thrown by the plugin: an HttpError keeps its text through our error handler.
    errorResponseBuilder: (_req, ctx) => new HttpError(429, `too many requests; retry in ${Math.ceil(ctx.ttl / 1000)} s`),
  });

  app.addHook("onResponse", async (req, reply) => {
    metrics.httpRequests.inc({ route: req.routeOptions.url ?? "unknown", status: String(reply.statusCode) });
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        code: v.keyword,
        path: v.instancePath.split("/").filter(Boolean),
        message: v.message ?? "",
      }));
      return void reply.status(400).send({ error: describeIssues(issues, err.validationContext ?? "body") });
    }
    const status = err instanceof HttpError ? err.statusCode : (err.statusCode ?? 500);
    if (status >= 500) log.error({ err: { message: err.message }, route: req.routeOptions.url }, "HTTP request failed");
    // Our own messages are safe to show; fastify's are replaced by fixed texts; a 5xx says nothing internal.
    const message =
      status >= 500
        ? "internal error"
        : err instanceof HttpError
          ? err.message
          : (FASTIFY_MESSAGES[err.code ?? ""] ?? (STATUS_CODES[status] ?? "bad request").toLowerCase());
    void reply.status(status).send({ error: message });
  });
  app.setNotFoundHandler((_req, reply) => void reply.status(404).send({ error: "not found" }));

  // Registered as plugins, after swagger: it documents the routes it sees being added.
  void app.register(probeRoutes(deps));
  const scopes = registrationScopes(config);
  void app.register(registrationRoutes(deps, scopes));
  void app.register(adminRoutes(deps, bearer(h.adminToken, "admin")));

  return {
    app,
    routes: () => routes,
    async listen() {
      return app.listen({ host: h.host, port: h.port });
    },
    async close() {
      await app.close();
    },
  };
}
