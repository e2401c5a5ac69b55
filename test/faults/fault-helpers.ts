import { appendFileSync, chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase, type Database } from "../../src/store/database.js";
import { migrateLatest } from "../../src/store/migrate.js";
import { startPrivatePostgres, type PrivatePostgres } from "../support/private-postgres.js";

// Small shared pieces of the fault suite.

/**
 * A scenario's own directory with a private Postgres cluster in it (one the test may stop), migrated,
 * and a small pool on it for seeding and checking.
 */
export async function startPrivateDatabase(name: string): Promise<{ dir: string; pgc: PrivatePostgres; db: Database }> {
  const dir = mkdtempSync(join(tmpdir(), `xp-fault-${name}-`));
  chmodSync(dir, 0o755); // the postgres user must reach its data directory inside
  const pgc = await startPrivatePostgres(join(dir, "pg"));
  try {
    const db = await openDatabase({ url: pgc.url, dataDir: "", poolMax: 2 });
    await migrateLatest(db);
    return { dir, pgc, db };
  } catch (err) {
    pgc.destroy();
    throw err;
  }
}

/** Resident memory of a process, in MB (one decimal). */
export function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Math.round((Number(kb) / 1024) * 10) / 10;
}

/** A publish IQ shaped like Prosody's (test/fixtures/captured/prosody-default-body.xml). */
export function publishIq(node: string, secret: string): string {
  return `<iq type='set' from='localhost' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='${node}'><item><notification xmlns='urn:xmpp:push:0'><x type='form' xmlns='jabber:x:data'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field><field var='message-count' type='text-single'><value>1</value></field><field var='last-message-body' type='text-single'><value>New Message!</value></field></x></notification></item></publish><publish-options><x type='submit' xmlns='jabber:x:data'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>${secret}</value></field></x></publish-options></pubsub></iq>`;
}

/** Prints a scenario's figures (CI shows them) and keeps them for the suite's summary. */
export function report(scenario: string, figures: Record<string, number | string>): void {
  const line = `[fault] ${scenario}: ${Object.entries(figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`;
  console.log(line);
  const file = process.env.XMPP_PUSH_FAULT_REPORT;
  if (file) appendFileSync(file, `${line}\n`);
}
