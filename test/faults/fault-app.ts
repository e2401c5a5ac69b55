import { createServer, type Server } from "../../src/main.js";
import type { Logger } from "../../src/observability/logger.js";
import type { Database } from "../../src/store/database.js";
import type { FakeXmppServer } from "../support/fake-xmpp-server.js";
import type { FakeApns } from "../support/fakes/fake-apns.js";
import type { XmppServer } from "../support/servers/xmpp-servers.js";
import { fakeApnsSection, testConfig } from "../support/test-config.js";
import { waitFor } from "../support/wait-for.js";

// The app server the fault scenarios break things around: one app, "chat", delivering through the fake
// APNs, linked as a component to the fake XMPP server or to a real Prosody or ejabberd. A scenario
// names only what it changes (reconnect pace, delivery timings, database, log level); what stays the
// same in every scenario is written once, here.

export interface FaultAppOptions {
  /** The XMPP server the component links to: the fake one, or a real Prosody or ejabberd. */
  readonly xmpp: FakeXmppServer | XmppServer;
  readonly apns: FakeApns;
  /** How soon the component tries again after losing its link. */
  readonly reconnectMaxDelayMs: number;
  /** Component mode, for replicas; the default otherwise. */
  readonly mode?: "shared" | "exclusive";
  /** A separate process needs its database named; the in-process server is handed one. */
  readonly database?: { readonly url: string; readonly poolMax?: number };
  readonly logLevel?: string;
  readonly delivery?: Record<string, unknown>;
}

/** The app's configuration as its YAML file holds it. */
export function faultAppConfig(opts: FaultAppOptions): Record<string, unknown> {
  const { xmpp, apns } = opts;
  const link =
    "service" in xmpp
      ? { service: xmpp.service, domain: xmpp.componentDomain, secret: xmpp.secret }
      : { service: xmpp.componentService, domain: xmpp.componentDomain, secret: xmpp.componentSecret };
  return {
    component: { ...link, reconnectMaxDelayMs: opts.reconnectMaxDelayMs, ...(opts.mode && { mode: opts.mode }) },
    domains: ["localhost"],
    ...(opts.database && { database: opts.database }),
    ...(opts.logLevel && { log: { level: opts.logLevel } }),
    ...(opts.delivery && { delivery: opts.delivery }),
    apps: [{ id: "chat", apns: fakeApnsSection(apns) }],
  };
}

/** The app server in this process, on a test database, started and with its component online. */
export async function startFaultServer(opts: FaultAppOptions & { readonly db: Database; readonly log: Logger }): Promise<Server> {
  const server = await createServer(testConfig({ ...faultAppConfig(opts), http: { port: 0 } }), { log: opts.log, db: opts.db });
  try {
    await server.start();
    await waitFor("the component", () => server.component.state() === "online");
  } catch (err) {
    // The caller never gets this server to stop: stop it here, or it keeps the worker alive.
    await server.stop().catch(() => undefined);
    throw err;
  }
  return server;
}
