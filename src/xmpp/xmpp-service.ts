import xml from "@xmpp/xml";
import type { Config } from "../config/config-schema.js";
import type { PublishService } from "../delivery/publish-service.js";
import { PACKAGE_VERSION } from "../observability/build-info.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { RegistrationService } from "../registration/registration-service.js";
import { appserverCommands } from "../dialects/appserver/appserver-commands.js";
import { p2Commands } from "../dialects/p2/p2-commands.js";
import { tigaseCommands } from "../dialects/tigase/tigase-commands.js";
import { createAdhocCommands } from "./adhoc-commands.js";
import type { ComponentConnection } from "./component.js";
import { discoHandlers } from "./disco.js";
import { createIqRouter, reply } from "./iq-router.js";
import { NS } from "./namespaces.js";
import { createPublishAnswer, createPublishHandler, isServerAddress } from "./publish-handler.js";
import { scanPublish } from "./publish-scanner.js";

export const VERSION = PACKAGE_VERSION;

const PUBSUB_ROUTE = { ns: NS.pubsub, name: "pubsub" } as const;

/** Wires every IQ the component answers to the services behind it. */
export function attachXmppService({
  component,
  config,
  publish,
  registrations,
  metrics,
  log,
}: {
  component: ComponentConnection;
  config: Pick<Config, "apps">;
  publish: PublishService;
  registrations: RegistrationService;
  metrics: Metrics;
  log: Logger;
}): void {
  const componentJid = component.domain;
  const router = createIqRouter({ send: (el) => component.send(el), sendText: (text) => component.sendText(text), log });
  const commands = createAdhocCommands([
    ...p2Commands({ registrations, componentJid }),
    ...appserverCommands({ registrations, componentJid }),
    ...tigaseCommands({ registrations, config }),
  ]);
  const disco = discoHandlers({ componentJid, commands: commands.list });

  const answerPublish = createPublishAnswer({ publish, metrics });
  router.route("set", NS.pubsub, "pubsub", createPublishHandler(answerPublish));
  // Nearly every stanza is a publish of one shape: read it from its text, without an element tree.
  // What the scanner declines, and a publish from an address that is not a server's (the router
  // answers those), is parsed and routed like any other stanza.
  component.claimStanzas((text) => {
    const scanned = scanPublish(text);
    if (scanned === undefined || !isServerAddress(scanned.from)) return false;
    router
      .answerText(scanned, PUBSUB_ROUTE, () => answerPublish(scanned.from, scanned.publish))
      .catch((err: unknown) => log.error({ err }, "failed to answer a stanza"));
    return true;
  });
  router.route("set", NS.commands, "command", async (iq) => {
    const r = await commands.handler(iq);
    // Label values come from our own command list only: a client cannot grow the metric's cardinality.
    const command = commands.list.find((c) => c.node === iq.payload.attrs.node);
    metrics.registrationCommands.inc({
      dialect: command?.dialect ?? "unknown",
      action: command?.node ?? "unknown",
      result: "error" in r ? r.error.condition : "ok",
    });
    return r;
  });
  router.route("get", NS.discoInfo, "query", disco.info);
  router.route("get", NS.discoItems, "query", disco.items);
  router.route("get", NS.ping, "ping", () => reply.result());
  router.route("get", NS.version, "query", () =>
    reply.result(xml("query", { xmlns: NS.version }, xml("name", {}, "xmpp-push"), xml("version", {}, VERSION))),
  );

  component.onStanza((stanza) => {
    router.handle(stanza).catch((err: unknown) => log.error({ err }, "failed to answer a stanza"));
  });
}
