import type { Config } from "./config/config-schema.js";
import type { Logger } from "./observability/logger.js";
import { openDatabase, type Database } from "./store/database.js";
import { migrateLatest, pendingMigrations } from "./store/migrate.js";
import { createComponentConnection } from "./xmpp/component.js";

// The composition root: the only place that knows every concrete module and wires them together.

export interface Server {
  readonly db: Database;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function createServer(config: Config, log: Logger): Promise<Server> {
  const db = await openDatabase({ ...config.database, lockWaitMs: 10_000 });
  try {
    if (config.database.migrateOnStart) {
      const applied = await migrateLatest(db);
      if (applied.length > 0) log.info({ applied }, "database migrated");
    } else {
      const pending = await pendingMigrations(db);
      if (pending.length > 0) throw new Error(`the database needs migrations (${pending.join(", ")}): run "xmpp-push migrate"`);
    }
  } catch (err) {
    await db.close();
    throw err;
  }

  const component = createComponentConnection({
    ...config.component,
    log: log.child({ module: "component" }),
  });

  return {
    db,
    async start() {
      component.start();
      log.info(
        {
          component: config.component.domain,
          service: config.component.service,
          domains: config.domains,
          apps: config.apps.map((a) => `${a.id}(${a.strategy.providers.join(">")})`),
          database: db.description,
        },
        `serving ${config.component.domain} for ${config.domains.join(", ")} via ${config.component.service}; ` +
          `apps ${config.apps.map((a) => `${a.id}: ${a.strategy.providers.join(" > ")}`).join("; ")}; database ${db.description}`,
      );
    },
    async stop() {
      await component.stop();
      await db.close();
    },
  };
}
