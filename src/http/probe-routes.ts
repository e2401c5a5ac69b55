import type { FastifyInstance } from "fastify";
import type { HttpDeps } from "./http-server.js";
import { bearer } from "./http-error.js";

// What orchestrators and monitoring read: liveness, readiness, Prometheus metrics, and the OpenAPI
// document of the whole HTTP API.

export function probeRoutes({ config, log, metrics, readiness }: HttpDeps) {
  const metricsToken = config.http.metricsToken;
  return async (app: FastifyInstance) => {
    const tags = ["health"];
    app.get("/healthz", { schema: { tags, summary: "Alive (liveness probe)" } }, async () => ({ status: "ok" }));

    let lastNotReady = "";
    app.get(
      "/readyz",
      { schema: { tags, summary: "Ready: XMPP connected and database answering; a 503 lists reason codes" } },
      async (_req, reply) => {
        const reasons = await readiness.check();
        // The details (a database error text) go to the log, once per change; the public answer has codes only.
        const summary = reasons.map((r) => `${r.code}: ${r.detail}`).join("; ");
        if (summary !== lastNotReady && summary !== "") log.warn({ reasons: reasons.map((r) => ({ ...r })) }, "not ready");
        lastNotReady = summary;
        if (reasons.length > 0) return reply.status(503).send({ status: "not ready", reasons: reasons.map((r) => r.code) });
        return { status: "ready" };
      },
    );

    app.get(
      "/metrics",
      {
        preParsing: metricsToken !== undefined ? bearer(metricsToken, "metrics") : [],
        schema: {
          tags,
          summary: "Prometheus metrics (bearer when http.metricsToken is set)",
          ...(metricsToken !== undefined ? { security: [{ bearer: [] }] } : {}),
        },
      },
      async (_req, reply) => {
        const body = await metrics.registry.metrics();
        return reply.type(metrics.registry.contentType).send(body);
      },
    );

    app.get("/openapi.json", { schema: { tags, summary: "This document (OpenAPI 3.1)" } }, async () => app.swagger());
  };
}
