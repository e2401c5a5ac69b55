import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { tokenFingerprint } from "../domain/secret.js";
import type { HttpDeps } from "./http-server.js";
import { HttpError } from "./http-server.js";

// The admin API (admin bearer token): look at a registration and its delivery history. It never
// returns a secret (only its existence) nor a whole device token (a fingerprint).

const deliveriesQuery = z.object({
  node: z.string().min(1).max(256).optional(),
  since: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export function adminRoutes(deps: HttpDeps, auth: (req: FastifyRequest, reply: FastifyReply) => Promise<void>) {
  return async (app: FastifyInstance) => {
    app.get<{ Params: { node: string } }>("/v1/registrations/:node", { preHandler: auth }, async (req) => {
      const reg = await deps.registrationStore.findByNode(req.params.node);
      if (!reg) throw new HttpError(404, "no such registration");
      return {
        node: reg.node,
        app: reg.app,
        jid: reg.ownerJid,
        deviceId: reg.deviceId,
        channel: reg.channel,
        dialect: reg.dialect,
        hasSecret: reg.secretHash !== undefined,
        createdAt: reg.createdAt,
        updatedAt: reg.updatedAt,
        lastPushAt: reg.lastPushAt ?? null,
        disabledAt: reg.disabledAt ?? null,
        disabledReason: reg.disabledReason ?? null,
        addresses: reg.addresses.map((a) => ({
          provider: a.provider,
          tokenFingerprint: tokenFingerprint(a.token),
          hasVoipToken: a.voipToken !== undefined,
          environment: a.environment ?? null,
          pushType: a.pushType ?? null,
          updatedAt: a.updatedAt,
          disabledAt: a.disabledAt ?? null,
          disabledReason: a.disabledReason ?? null,
        })),
      };
    });

    app.get("/v1/deliveries", { preHandler: auth }, async (req) => {
      const q = deliveriesQuery.safeParse(req.query);
      if (!q.success) throw new HttpError(400, q.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
      const since = q.data.since === undefined ? undefined : parseSince(q.data.since);
      const rows = await deps.audit.list({ limit: q.data.limit, ...(q.data.node !== undefined ? { node: q.data.node } : {}), ...(since ? { since } : {}) });
      return { deliveries: rows };
    });
  };
}

/** An ISO time, or a duration back from now ("1h", "7d"). */
function parseSince(text: string): Date {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (m) return new Date(Date.now() - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"]);
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) throw new HttpError(400, "since: an ISO time or a duration such as 1h or 7d");
  return d;
}
