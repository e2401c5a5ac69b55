import type { z } from "zod";
import { HttpError } from "./http-server.js";

/**
 * Validates a request part against its schema; a failure is a 400 naming the fields of our schema and
 * what they need, never the client's values or its unknown keys (they would be echoed into someone's page).
 */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    if (i.code === "unrecognized_keys") return "unknown field";
    if (i.code === "invalid_union") return "body: give either node, or deviceId (with jid and app as registered)";
    return `${i.path.join(".") || "body"}: ${i.message}`;
  });
  throw new HttpError(400, [...new Set(problems)].join("; "));
}
