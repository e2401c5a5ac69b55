import type { Knex } from "knex";
import pg from "pg";

/** One SQL statement with `$1`-style parameters, run on a connection of knex's pool. */
export type PreparedStatement<Row> = (values: readonly unknown[]) => Promise<Row[]>;

// What knex's client offers for running a query outside its builder: the same pool, the same
// connections (and their query timeout), taken and given back as knex's own runner does.
interface PoolOwner {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
}

interface PGliteConnection {
  query<Row>(text: string, values: readonly unknown[]): Promise<{ rows: Row[] }>;
}

/**
 * A statement for the hot path (a registration read per push when the devices pushed to are far more
 * than the cache holds). Through knex, each run built a raw query object, rewrote `?` into `$n`,
 * compiled and emitted events: ~15 µs of CPU a run, and with it the garbage. On Postgres the statement
 * is named, so each connection parses and plans it once and then only binds and executes it. On the
 * embedded database (PGlite, one connection) it runs as plain text on that connection, taken from
 * knex's pool like any query, so it waits for an open transaction instead of running inside it.
 *
 * The name must be unique per statement text: a Postgres connection keeps the first text it saw under
 * a name.
 */
export function preparedStatement<Row>(knex: Knex, name: string, text: string, { named = true } = {}): PreparedStatement<Row> {
  const pool = knex.client as unknown as PoolOwner;
  // Unnamed (`named: false`): parsed and planned on every run, but nothing is left on the connection,
  // for a pooler that hands each statement to another server connection.
  const statementName = named ? name : undefined;
  return async (values) => {
    const connection = await pool.acquireConnection();
    try {
      const result =
        connection instanceof pg.Client
          ? await connection.query<Row & pg.QueryResultRow>({ name: statementName, text, values: values as unknown[] })
          : await (connection as PGliteConnection).query<Row>(text, values);
      return result.rows;
    } finally {
      await pool.releaseConnection(connection);
    }
  };
}
