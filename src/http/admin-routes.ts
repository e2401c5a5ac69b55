import { NODE_RULE, NODE_RULE_TEXT } from "../domain/device-token.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { EpochMs } from "../domain/registration.js";
import { tokenFingerprint } from "../domain/secret.js";
import type { HttpDeps } from "./http-server.js";
import { HttpError } from "./http-error.js";

// The admin API (admin bearer token) under /admin/v1: look at a registration and its delivery history.
// It never returns a secret (only its existence) nor a whole device token (a fingerprint).
// The paths of earlier versions (/v1/registrations/<node>, /v1/deliveries) still answer, marked
// deprecated: they share a prefix with the registration API, which is what an ingress exposes.

export const ADMIN_PREFIX = "/admin/v1";
const DEPRECATED_PREFIX = "/v1";

const MAX_SINCE_MS = 100 * 365 * 86_400_000;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const nodeParams = z.object({ node: z.string().regex(NODE_RULE, NODE_RULE_TEXT) });
export const deliveriesQuery = z.object({
  node: nodeParams.shape.node.optional(),
  since: z.string().max(64).optional().describe("an ISO time, or a duration back from now such as 1h or 7d"),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export function adminRoutes(deps: HttpDeps, auth: (req: FastifyRequest, reply: FastifyReply) => Promise<void>) {
  return async (untyped: FastifyInstance) => {
    const app = untyped.withTypeProvider<ZodTypeProvider>();
    for (const prefix of [ADMIN_PREFIX, DEPRECATED_PREFIX]) {
      const old = prefix === DEPRECATED_PREFIX;
      const onSend = old ? deprecated : [];
      const doc = { tags: ["admin"], security: [{ bearer: [] }], ...(old ? { deprecated: true } : {}) };
      app.get(
        `${prefix}/registrations/:node`,
        {
          preParsing: auth,
          onSend,
          schema: {
            ...doc,
            summary: `A registration, without its secret or device tokens${old ? ` (use ${ADMIN_PREFIX})` : ""}`,
            params: nodeParams,
          },
        },
        async (req) => {
          const { node } = req.params;
          const reg = await deps.registrationStore.findByNode(node);
          if (!reg) throw new HttpError(404, "no such registration");
          return {
            node: reg.node,
            app: reg.app,
            jid: reg.ownerJid,
            deviceId: reg.deviceId,
            channel: reg.channel,
            dialect: reg.dialect,
            // "xmpp", or the fingerprint of the HTTP registration token that made it.
            registeredBy: reg.registrar ?? "xmpp",
            hasSecret: reg.secretHash !== undefined,
            createdAt: isoTime(reg.createdAtMs),
            updatedAt: isoTime(reg.updatedAtMs),
            lastPushAt: reg.lastPushAtMs !== undefined ? isoTime(reg.lastPushAtMs) : null,
            disabledAt: reg.disabledAtMs !== undefined ? isoTime(reg.disabledAtMs) : null,
            disabledReason: reg.disabledReason ?? null,
            addresses: reg.addresses.map((a) => ({
              provider: a.provider,
              tokenFingerprint: tokenFingerprint(a.token),
              hasVoipToken: a.voipToken !== undefined,
              environment: a.environment ?? null,
              pushType: a.pushType ?? null,
              updatedAt: isoTime(a.updatedAtMs),
              disabledAt: a.disabledAtMs !== undefined ? isoTime(a.disabledAtMs) : null,
              disabledReason: a.disabledReason ?? null,
            })),
          };
        },
      );

      app.get(
        `${prefix}/deliveries`,
        {
          preParsing: auth,
          onSend,
          schema: {
            ...doc,
            summary: `Delivery attempts, newest first${old ? ` (use ${ADMIN_PREFIX})` : ""}`,
            querystring: deliveriesQuery,
          },
        },
        async (req) => {
          const q = req.query;
          const since = q.since === undefined ? undefined : parseSince(q.since, deps.clock.now());
          const rows = await deps.audit.list({
            limit: q.limit,
            ...(q.node !== undefined ? { node: q.node } : {}),
            ...(since ? { since } : {}),
          });
          return { deliveries: rows };
        },
      );
    }
  };
}

async function deprecated(_req: FastifyRequest, reply: FastifyReply, payload: unknown) {
  void reply.header("deprecation", "true").header("link", `<${ADMIN_PREFIX}>; rel="successor-version"`);
  return payload;
}

/** An ISO time, or a duration back from now ("1h", "7d"), at most 100 years back. */
function parseSince(text: string, now: Date): Date {
  const m = /^(\d{1,12})([smhd])$/.exec(text);
  const d = m
    ? new Date(now.getTime() - Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS])
    : /^\d{4}-\d{2}-\d{2}/.test(text)
      ? new Date(text)
      : new Date(Number.NaN);
  if (Number.isNaN(d.getTime()) || Math.abs(now.getTime() - d.getTime()) > MAX_SINCE_MS) {
    throw new HttpError(400, "since: an ISO time or a duration such as 1h or 7d, within 100 years");
  }
  return d;
}

/** A moment as the API shows every time: ISO 8601 in UTC, as a Date's JSON would be. */
function isoTime(ms: EpochMs): string {
  return new Date(ms).toISOString();
}
