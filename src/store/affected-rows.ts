/**
 * Row count of a knex delete. knex-pglite 0.14 labels deletes "DEL" instead of "DELETE", so knex hands
 * back the raw result ({ rowCount }) instead of the number it returns on pg.
 */
export function affectedRows(result: unknown): number {
  if (typeof result === "number") return result;
  const count =
    (result as { rowCount?: unknown; affectedRows?: unknown } | null)?.rowCount ??
    (result as { affectedRows?: unknown } | null)?.affectedRows;
  return typeof count === "number" ? count : 0;
}
