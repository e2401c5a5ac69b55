import type { Knex } from "knex";
import type { Notification } from "../domain/notification.js";
import type { DeliveryQueue, JobRef, QueuedJob } from "../ports/delivery-queue.js";

interface JobRow {
  node: string;
  push_id: string;
  app: string;
  notification: Notification | string;
  received_at: Date;
  attempts: number;
  next_attempt_at: Date;
  expires_at: Date;
  last_error: string | null;
}

const toJob = (r: JobRow): QueuedJob => ({
  node: r.node,
  pushId: r.push_id,
  app: r.app,
  receivedAt: new Date(r.received_at),
  notification: typeof r.notification === "string" ? (JSON.parse(r.notification) as Notification) : r.notification,
  attempts: r.attempts,
  nextAttemptAt: new Date(r.next_attempt_at),
  expiresAt: new Date(r.expires_at),
  ...(r.last_error !== null ? { lastError: r.last_error } : {}),
});

export function createPgDeliveryQueue({ knex }: { knex: Knex }): DeliveryQueue {
  return {
    async put(jobs) {
      if (jobs.length === 0) return;
      // A batch may hold two pushes for one node; ON CONFLICT cannot touch a row twice, so keep the newest.
      const newest = new Map<string, QueuedJob>();
      for (const j of jobs) {
        const seen = newest.get(j.node);
        if (seen === undefined || seen.receivedAt <= j.receivedAt) newest.set(j.node, j);
      }
      const json = JSON.stringify(
        [...newest.values()].map((j) => ({
          node: j.node,
          push_id: j.pushId,
          app: j.app,
          notification: j.notification,
          received_at: j.receivedAt,
          attempts: j.attempts,
          next_attempt_at: j.nextAttemptAt,
          expires_at: j.expiresAt,
          last_error: j.lastError ?? null,
        })),
      );
      await knex.raw(
        `INSERT INTO delivery_jobs (node, push_id, app, notification, received_at, attempts, next_attempt_at, expires_at, last_error)
         SELECT node, push_id, app, notification, received_at, attempts, next_attempt_at, expires_at, last_error
           FROM json_to_recordset(?::json) AS x(node text, push_id text, app text, notification jsonb, received_at timestamptz,
                                               attempts int, next_attempt_at timestamptz, expires_at timestamptz, last_error text)
         ON CONFLICT (node) DO UPDATE SET
           push_id = excluded.push_id, app = excluded.app, notification = excluded.notification, received_at = excluded.received_at,
           attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, expires_at = excluded.expires_at,
           locked_by = NULL, locked_until = NULL, last_error = excluded.last_error, updated_at = now()
         WHERE delivery_jobs.received_at <= excluded.received_at`,
        [json],
      );
    },

    async claim(workerId, max, now, leaseUntil) {
      const result = await knex.raw<{ rows: JobRow[] }>(
        `WITH due AS (
           SELECT node FROM delivery_jobs
            WHERE next_attempt_at <= ? AND expires_at > ? AND (locked_until IS NULL OR locked_until < ?)
            ORDER BY next_attempt_at
            LIMIT ?
            FOR UPDATE SKIP LOCKED)
         UPDATE delivery_jobs j
            SET locked_by = ?, locked_until = ?, attempts = j.attempts + 1, updated_at = now()
           FROM due
          WHERE j.node = due.node
         RETURNING j.node, j.push_id, j.app, j.received_at, j.notification, j.attempts, j.next_attempt_at, j.expires_at, j.last_error`,
        [now, now, now, max, workerId, leaseUntil],
      );
      return result.rows.map(toJob);
    },

    async complete(jobs: readonly JobRef[]) {
      if (jobs.length === 0) return;
      await knex.raw(
        `DELETE FROM delivery_jobs d USING json_to_recordset(?::json) AS x(node text, push_id text)
          WHERE d.node = x.node AND d.push_id = x.push_id`,
        [JSON.stringify(jobs.map((j) => ({ node: j.node, push_id: j.pushId })))],
      );
    },

    async takeExpired(now, max) {
      const result = await knex.raw<{ rows: JobRow[] }>(
        `DELETE FROM delivery_jobs
          WHERE node IN (SELECT node FROM delivery_jobs
                          WHERE expires_at <= ? AND (locked_until IS NULL OR locked_until < ?)
                          ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED)
          RETURNING node, push_id, app, received_at, notification, attempts, next_attempt_at, expires_at, last_error`,
        [now, now, max],
      );
      return result.rows.map(toJob);
    },

    async stats(now) {
      const row = (await knex("delivery_jobs").count({ n: "*" }).min({ oldest: "created_at" }).first()) as {
        n: number;
        oldest: Date | null;
      };
      return { depth: Number(row.n), oldestAgeMs: row.oldest ? Math.max(0, now.getTime() - new Date(row.oldest).getTime()) : 0 };
    },
  };
}
