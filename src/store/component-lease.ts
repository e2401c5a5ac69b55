import pg from "pg";
import type { Logger } from "../observability/logger.js";

// Who among several xmpp-push replicas connects the component, for XMPP servers that accept one
// connection per component domain (Prosody): the holder of a Postgres advisory lock named after the
// domain. The others stand by and poll; when the holder dies, Postgres drops its session and with it
// the lock, and a standby takes over within a poll interval.
//
// A lost *database* connection is not a lost lease: while Postgres is away nobody can take the lock,
// so the holder stays connected to XMPP (dropping the component would cost users their pushes, and on
// ejabberd their registrations). Once Postgres is back the holder takes the lock again; only if
// another replica got it first does it yield.

/** `starting` until the first try for the lock has answered: neither active nor a proven standby. */
export type LeaseState = "starting" | "standby" | "held";

export interface ComponentLease {
  state(): LeaseState;
  /** Starts competing for the lease; `onChange` is told whenever this replica gains or yields it. */
  start(onChange: (state: LeaseState) => void): void;
  stop(): Promise<void>;
}

export interface ComponentLeaseOptions {
  readonly url: string;
  readonly domain: string;
  readonly pollMs: number;
  readonly log: Logger;
}

export function createComponentLease({ url, domain, pollMs, log }: ComponentLeaseOptions): ComponentLease {
  let state: LeaseState = "starting";
  let client: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let onChange: (s: LeaseState) => void = () => undefined;
  let dbDown = false;
  let announced = false;
  const key = `xmpp-push component ${domain}`;

  const set = (next: LeaseState) => {
    if (next === state) return;
    state = next;
    onChange(next);
  };

  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, keepAlive: true, application_name: "xmpp-push lease" });
    c.on("error", () => undefined); // surfaced by the next query
    await c.connect();
    return c;
  };

  const tick = async () => {
    try {
      const fresh = client === undefined;
      client ??= await connect();
      let held: boolean;
      if (state === "held" && !fresh) {
        // The lock lives as long as the session that took it: a working session means we still hold it.
        await client.query("SELECT 1");
        held = true;
      } else {
        const { rows } = await client.query<{ held: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS held", [key]);
        held = rows[0]?.held === true;
        if (!held && state === "held")
          log.warn({ domain }, "another replica took the component over while the database was away; standing by");
      }
      if (dbDown) log.info({ domain }, "database reachable again for the component lease");
      dbDown = false;
      if (held && state !== "held") log.info({ domain }, "this replica now serves the component");
      if (!held && !announced) log.info({ domain }, "another replica serves the component; standing by to take over");
      announced = true;
      set(held ? "held" : "standby");
    } catch (err) {
      if (!dbDown)
        log.warn({ domain, err: { message: (err as Error).message } }, "component lease: database unreachable; keeping the current role");
      dbDown = true;
      await client?.end().catch(() => undefined);
      client = undefined;
    }
  };

  const loop = async () => {
    if (stopped) return;
    await tick();
    if (!stopped) timer = setTimeout(() => void loop(), pollMs);
  };

  return {
    state: () => state,
    start(cb) {
      onChange = cb;
      log.info({ domain }, "competing for the component (one replica connects it, the others stand by)");
      void loop();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      // Closing the session releases the lock at once: a standby takes over within one poll.
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}
