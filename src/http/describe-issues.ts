/** The parts of a zod issue a 400 may tell; both zod's own issues and fastify's validation errors carry them. */
export interface InputIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * A 400's text: the fields of our schema and what they need, never the client's values or its unknown
 * keys (they would be echoed into someone's page).
 */
export function describeIssues(issues: readonly InputIssue[], where = "body"): string {
  const problems = issues.map((i) => {
    if (i.code === "unrecognized_keys") return "unknown field";
    if (i.code === "invalid_union") return `${where}: give either node, or deviceId (with jid and app as registered)`;
    return `${i.path.map(String).join(".") || where}: ${i.message}`;
  });
  return [...new Set(problems)].join("; ");
}
