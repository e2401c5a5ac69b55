import type { FastifyRequest } from "fastify";

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

export function presentedBearer(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
  return m ? m[1]!.trim() : undefined;
}
