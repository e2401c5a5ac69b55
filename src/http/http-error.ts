import type { FastifyReply, FastifyRequest } from "fastify";
import { tokensEqual } from "../domain/secret.js";

// An HTTP answer a route gives on purpose (status and a message safe to show), and the bearer token a
// request presents: shared by the server and every route module, so that none imports the server.

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** The bearer token of a request, or undefined. */
export function presentedBearer(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
  return m ? m[1]!.trim() : undefined;
}

/**
 * A hook that requires `Authorization: Bearer <token>`; the routes are off when no token is configured.
 * Routes run it as preParsing: after the rate limit (an onRequest hook the plugin appends behind a
 * route's own), before the body is read, so a request without the token costs no parsing.
 */
export function bearer(token: string | undefined, what: string) {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    if (token === undefined) throw new HttpError(404, `the ${what} API is disabled (no ${what} token configured)`);
    const presented = presentedBearer(req);
    if (presented === undefined || !tokensEqual(presented, token)) throw new HttpError(401, "missing or wrong bearer token");
  };
}
