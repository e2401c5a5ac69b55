import type { Config } from "../config/config-schema.js";
import type { Logger } from "./logger.js";

// The one line `serve` logs once it listens: what it serves, through which providers, on which
// database. The fields are the facts; the message is the same facts as a sentence for people.

export function logStartup(log: Logger, config: Config, where: { database: string; http: string | undefined }): void {
  const facts = {
    component: config.component.domain,
    service: config.component.service,
    domains: config.domains,
    apps: config.apps.map((a) => `${a.id}(${a.strategy.providers.join(">")})`),
    database: where.database,
    http: where.http,
  };
  log.info(
    facts,
    `serving ${facts.component} for ${facts.domains.join(", ")} via ${facts.service}; ` +
      `apps ${config.apps.map((a) => `${a.id}: ${a.strategy.providers.join(" > ")}`).join("; ")}; database ${facts.database}; http ${facts.http}`,
  );
}
