import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import xml from "@xmpp/xml";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createServer, type Server } from "../../src/main.js";
import { createPgDeliveryAudit } from "../../src/store/delivery-audit-pg.js";
import { freshTestDatabase, type TestDatabase } from "./db.js";
import { startFakeApns, type FakeApns } from "./fakes/fake-apns.js";
import { startFakeJpush, type FakeJpush } from "./fakes/fake-jpush.js";
import { recordingLogger } from "./memory/recording-logger.js";
import { startEjabberd, startProsody, type XmppServer } from "./servers/xmpp-servers.js";
import { fakeApnsSection, JPUSH_APP_KEY, JPUSH_MASTER_SECRET, testConfig } from "./test-config.js";
import { waitFor } from "./wait-for.js";
import { connectUser } from "./xmpp-client.js";
import { resultField, runCommand } from "./xmpp-commands.js";

// The whole path, proven against a real XMPP server: a client registers with us (each dialect),
// enables push on its own server, goes offline; another user writes; the server publishes to us; we
// push to the (fake) provider and audit it. Shared by the Prosody and the ejabberd test files.

const NS_COMMANDS = "http://jabber.org/protocol/commands";

export interface Ctx {
  xmpp: XmppServer;
  server: Server;
  db: TestDatabase;
  apns: FakeApns;
  jpush: FakeJpush;
  logText: () => string;
  startAppServer(): Promise<Server>;
}

export function hexToken(tag: string): string {
  return `${Buffer.from(tag).toString("hex")}${"0".repeat(64)}`.slice(0, 64);
}

export function defineXmppScenarios(kind: "prosody" | "ejabberd"): void {
  const ctx = {} as Ctx;
  let log: ReturnType<typeof recordingLogger>;

  beforeAll(async () => {
    ctx.db = await freshTestDatabase();
    const runDir = mkdtempSync(join(inject("testRunDir"), `${kind}-`));
    const start = kind === "prosody" ? startProsody : startEjabberd;
    // Prosody disables a registration after push_max_errors non-wait errors: low, so the test sees it.
    ctx.xmpp = await start({ runDir, maxErrors: 2, extraUsers: ["carol", "dave", "erin", "frank", "gina", "hank"] });
    ctx.apns = await startFakeApns();
    ctx.jpush = await startFakeJpush({ appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET });
    log = recordingLogger("info");
    ctx.logText = log.text;
    ctx.startAppServer = async () => {
      const config = testConfig({
        component: {
          service: ctx.xmpp.componentService,
          domain: ctx.xmpp.componentDomain,
          secret: ctx.xmpp.componentSecret,
          reconnectMaxDelayMs: 500,
        },
        domains: ["localhost"],
        http: { port: 0 },
        delivery: { retryBaseMs: 200, retryMaxMs: 1000, workerPollMs: 100, auditFlushMs: 5, breakerFailureThreshold: 50 },
        apps: [
          {
            id: "chat",
            default: true,
            strategy: { providers: ["apns", "jpush"], mode: "fallback" },
            apns: fakeApnsSection(ctx.apns),
            jpush: {
              appKey: JPUSH_APP_KEY,
              masterSecret: JPUSH_MASTER_SECRET,
              baseUrl: ctx.jpush.url,
              reportBaseUrl: `${ctx.jpush.url}/v3`,
              receipts: { enabled: true, pollSeconds: 1 },
            },
            tigase: { providers: { "tigase:messenger:apns:1": "apns" } },
            fpush: { modules: { monalProdiOS: "production" } },
          },
        ],
      });
      const server = await createServer(config, { log: log.log, db: ctx.db });
      await server.start();
      await waitFor("the component to connect", () => server.component.state() === "online");
      return server;
    };
    ctx.server = await ctx.startAppServer();
  });

  afterAll(async () => {
    await ctx.server?.stop();
    await ctx.xmpp?.stop();
    await ctx.apns?.stop();
    await ctx.jpush?.stop();
    await ctx.db?.dispose();
  });

  const domain = () => ctx.xmpp.componentDomain;
  const user = (name: string) => connectUser(ctx.xmpp, name, `${name}-pass`);
  const audit = async (node: string) => {
    await ctx.server.writes.flush();
    return [...(await createPgDeliveryAudit({ knex: ctx.db.knex }).list({ node, limit: 50 }))].reverse();
  };
  const apnsTo = (token: string) => ctx.apns.requests.filter((r) => r.token === token);
  const publishes = async (result: string) => {
    const text = await ctx.server.metrics.registry.getSingleMetricAsString("xmpp_push_publishes_total");
    const m = new RegExp(`result="${result}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };
  /** The user registers (p2 dialect), enables push with what it got, and logs out. */
  const registerAndLeave = async (name: string, token: string, opts: { device?: string; secretOverride?: string } = {}) => {
    const u = await user(name);
    const reply = await runCommand(u, domain(), "register-push-apns", {
      token,
      "device-id": opts.device ?? `${name}-${token.slice(0, 24)}`,
    });
    expect(reply.attrs.type).toBe("result");
    const node = resultField(reply, "node")!;
    const secret = resultField(reply, "secret")!;
    expect((await u.enablePush({ jid: domain(), node, secret: opts.secretOverride ?? secret })).attrs.type).toBe("result");
    await u.stop();
    return { node, secret };
  };
  const message = async (to: string, body: string) => {
    const bob = await user("bob");
    await bob.sendMessage(`${to}@localhost`, body);
    await bob.stop();
  };

  describe(`${kind}: discovery`, () => {
    it("shows the pubsub/push identity and lists the registration commands", async () => {
      const u = await user("alice");
      const info = await u.iq(xml("iq", { type: "get", to: domain() }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
      expect(info.getChild("query")?.getChild("identity")?.attrs).toMatchObject({ category: "pubsub", type: "push" });
      expect(
        info
          .getChild("query")
          ?.getChildren("feature")
          .map((f) => f.attrs.var),
      ).toContain("urn:xmpp:push:0");
      const items = await u.iq(
        xml("iq", { type: "get", to: domain() }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items", node: NS_COMMANDS })),
      );
      const nodes = items
        .getChild("query")
        ?.getChildren("item")
        .map((i) => i.attrs.node);
      expect(nodes).toEqual(
        expect.arrayContaining(["register-push-apns", "register-push-fcm", "register-push-jpush", "v1-register-push", "register-device"]),
      );
      await u.stop();
    });
  });

  describe(`${kind}: a message to an offline user is pushed`, () => {
    it("p2 dialect (Conversations): register-push-apns → node and secret, registering again keeps the node with a new secret", async () => {
      const token = hexToken(`${kind}-p2`);
      const { node, secret } = await registerAndLeave("alice", token, { device: "alice-phone" });
      await message("alice", "hello from bob");
      await waitFor("APNs to receive the push", () => apnsTo(token).length > 0);
      const rows = await waitFor("the audit row", async () => ((await audit(node)).length > 0 ? audit(node) : undefined));
      expect(rows[0]).toMatchObject({ provider: "apns", outcome: "delivered", status: 200, attempt: 1 });
      // Privacy: neither the body nor bob's JID left for Apple.
      expect(JSON.stringify(apnsTo(token)[0]!.payload)).not.toContain("hello from bob");
      // One registration per (account, device): the same node. Secrets are random and stored only hashed,
      // so registering again hands out a new one (the client enables push with it, as Conversations does).
      const u = await user("alice");
      const again = await runCommand(u, domain(), "register-push-apns", { token, "android-id": "alice-phone" });
      expect(resultField(again, "node")).toBe(node);
      expect(resultField(again, "secret")).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(resultField(again, "secret")).not.toBe(secret);
      await u.stop();
    });

    it("mod_push_appserver dialect: v1-register-push with a client-chosen node", async () => {
      const token = hexToken(`${kind}-mpa`);
      const u = await user("carol");
      const reply = await runCommand(u, domain(), "v1-register-push", {
        FORM_TYPE: "https://github.com/tmolitor-stud-tu/mod_push_appserver/#v1-register-push",
        type: "apns",
        node: `${kind}-carol-device`,
        token,
      });
      expect(resultField(reply, "node")).toBe(`${kind}-carol-device`);
      expect(resultField(reply, "jid")).toBe(domain());
      await u.enablePush({ jid: domain(), node: `${kind}-carol-device`, secret: resultField(reply, "secret")! });
      await u.stop();
      await message("carol", "hi carol");
      await waitFor("APNs to receive the push", () => apnsTo(token).length > 0);
    });

    it("Tigase dialect (Siskin): register-device → node, no secret", async () => {
      const token = hexToken(`${kind}-tig`);
      const u = await user("dave");
      const reply = await runCommand(u, domain(), "register-device", { provider: "tigase:messenger:apns:1", "device-token": token });
      expect(reply.attrs.type).toBe("result");
      const node = resultField(reply, "node")!;
      expect(resultField(reply, "secret")).toBeUndefined();
      await u.enablePush({ jid: domain(), node });
      await u.stop();
      await message("dave", "hi dave");
      await waitFor("APNs to receive the push", () => apnsTo(token).length > 0);
      expect(apnsTo(token)[0]!.payload).toMatchObject({ account: "dave@localhost" });
    });

    it("fpush dialect (Monal): no registration, the node is the APNs token", async () => {
      const token = hexToken(`${kind}-fpush`);
      const u = await user("erin");
      await u.enablePush({ jid: domain(), node: token, extraFields: { pushModule: "monalProdiOS" } });
      await u.stop();
      await message("erin", "hi erin");
      await waitFor("APNs to receive the push", () => apnsTo(token).length > 0);
    });

    it("JPush backs up APNs when APNs is down for the device", async () => {
      const token = hexToken(`${kind}-fallback`);
      ctx.apns.script((r) => (r.token === token ? { status: 503, reason: "ServiceUnavailable" } : undefined));
      const u = await user("frank");
      const apnsReply = await runCommand(u, domain(), "register-push-apns", { token, "device-id": "frank-phone" });
      const jpushReply = await runCommand(u, domain(), "register-push-jpush", { token: `${kind}jpushregid`, "device-id": "frank-phone" });
      // One device, two channels: same node.
      expect(resultField(jpushReply, "node")).toBe(resultField(apnsReply, "node"));
      // Each registration hands out a new secret: the client enables push with the last one.
      await u.enablePush({ jid: domain(), node: resultField(jpushReply, "node")!, secret: resultField(jpushReply, "secret")! });
      await u.stop();
      await message("frank", "hi frank");
      await waitFor("JPush to receive the push", () => ctx.jpush.delivered().length > 0);
      const rows = await waitFor("both attempts in the audit", async () => {
        const r = await audit(resultField(apnsReply, "node")!);
        return r.length >= 2 ? r : undefined;
      });
      expect(rows.slice(0, 2).map((r) => `${r.provider}:${r.outcome}`)).toEqual(["apns:retry", "jpush:delivered"]);
    });

    it("JPush: the audit row is marked received once JPush reports the push arrived", async () => {
      const regid = `${kind}receiptregid`;
      const to = (r: { body: unknown }) => (r.body as { audience?: { registration_id?: string[] } }).audience?.registration_id?.[0];
      // The phone gets it through a vendor channel a moment after JPush accepts it.
      ctx.jpush.scriptReceipts((r) => (to(r) === regid ? { received: true, channel: "vendor", delayMs: 300 } : undefined));
      try {
        const u = await user("gina");
        const reply = await runCommand(u, domain(), "register-push-jpush", {
          token: regid,
          "device-id": "gina-phone",
          environment: "sandbox",
        });
        const node = resultField(reply, "node")!;
        await u.enablePush({ jid: domain(), node, secret: resultField(reply, "secret")! });
        await u.stop();
        await message("gina", "hi gina");
        const sent = await waitFor("JPush to receive the push", () => ctx.jpush.delivered().find((r) => to(r) === regid));
        expect((sent.body as { options: { apns_production: boolean } }).options.apns_production).toBe(false);
        const row = await waitFor("the receipt on the audit row", async () => (await audit(node)).find((r) => r.receipt === "received"));
        expect(row).toMatchObject({ provider: "jpush", outcome: "delivered", messageId: sent.msgId, receiptChannel: "vendor" });
      } finally {
        ctx.jpush.scriptReceipts(() => undefined);
      }
    });
  });

  describe(`${kind}: the server keeps or drops registrations as it should`, () => {
    it("a wrong secret is refused and nothing is delivered", async () => {
      const token = hexToken(`${kind}-wrongsecret`);
      const before = await publishes("not-authorized");
      await registerAndLeave("alice", token, { secretOverride: "not-the-secret" });
      await message("alice", "who is this");
      await waitFor("the publish to be refused", async () => (await publishes("not-authorized")) > before);
      expect(apnsTo(token)).toHaveLength(0);
      expect(ctx.logText()).not.toContain("not-the-secret");
    });

    it("a dead token ends the registration on the XMPP server", async () => {
      const token = hexToken(`${kind}-dead`);
      // APNs has delivered for production before in this run, so BadDeviceToken/410 really means dead.
      ctx.apns.script((r) => (r.token === token ? { status: 410, reason: "Unregistered" } : undefined));
      const { node } = await registerAndLeave("alice", token);
      await message("alice", "one");
      await waitFor("APNs to report the token dead", async () => (await audit(node)).some((r) => r.outcome === "token_dead"));
      // ejabberd drops the registration at once; Prosody after push_max_errors (2) errors.
      if (kind === "prosody") {
        const unknownBefore = await publishes("unknown-node");
        await message("alice", "two");
        await waitFor("the second publish", async () => (await publishes("unknown-node")) > unknownBefore);
        // We count the publish before our error reply reaches Prosody: wait until Prosody has counted the
        // second error and dropped the registration, or a message sent meanwhile is still published.
        await waitFor("Prosody to disable push for the dead registration", () =>
          new RegExp(`Disabling push notifications for identifier '[^']*${node}'`).test(ctx.xmpp.logText()),
        );
      }
      const barrierToken = hexToken(`${kind}-deadbarrier`);
      await registerAndLeave("hank", barrierToken);
      const seen = apnsTo(token).length;
      const published = (await publishes("token-dead")) + (await publishes("unknown-node"));
      await message("alice", "three");
      await message("alice", "four");
      // The server handles bob's messages in order and publishes to us in that order: once hank's push
      // (sent last) has arrived, a publish for alice's "three" or "four" would have reached us before it.
      await message("hank", "barrier");
      await waitFor("the push for the message sent after alice's", () => apnsTo(barrierToken).length > 0);
      expect((await publishes("token-dead")) + (await publishes("unknown-node"))).toBe(published);
      expect(apnsTo(token)).toHaveLength(seen);
    });

    it("a provider outage keeps the registration, and the pushes arrive after it", async () => {
      const token = hexToken(`${kind}-outage`);
      ctx.apns.script((r) => (r.token === token ? { status: 503, reason: "ServiceUnavailable" } : undefined));
      const { node } = await registerAndLeave("carol", token);
      await message("carol", "during the outage");
      await waitFor("the attempt to fail", async () => (await audit(node)).some((r) => r.outcome === "retry"));
      await message("carol", "still down");
      await waitFor("two failed pushes", () => apnsTo(token).length >= 2);
      ctx.apns.script(() => undefined);
      await waitFor("the queued push to be delivered", async () => (await audit(node)).some((r) => r.outcome === "delivered"), 20_000);
      // The XMPP server still has the registration: the next message is pushed.
      const before = apnsTo(token).length;
      await message("carol", "after the outage");
      await waitFor("a new push", () => apnsTo(token).length > before);
    });

    it("the app server restarting while the XMPP server runs: it reconnects and the next message is pushed", async () => {
      const token = hexToken(`${kind}-restart`);
      const { node } = await registerAndLeave("dave", token);
      await ctx.server.stop();
      ctx.server = await ctx.startAppServer();
      await message("dave", "after our restart");
      await waitFor("APNs to receive the push", () => apnsTo(token).length > 0);
      // The audit row is written after APNs answers (batched): wait for it rather than race it.
      await waitFor("the delivery to be audited", async () => (await audit(node)).some((r) => r.outcome === "delivered"));
    });

    it("the XMPP server restarting: we reconnect within 5 s and pushes flow again", async () => {
      const token = hexToken(`${kind}-xmpprestart`);
      await registerAndLeave("erin", token);
      await ctx.xmpp.restart();
      const t0 = Date.now();
      await waitFor("the component to reconnect", () => ctx.server.component.state() === "online", 10_000);
      expect(Date.now() - t0).toBeLessThan(5000);
      await message("erin", "after the server restart");
      await waitFor("APNs to receive the push", () => apnsTo(token).length > 0);
    });
  });
}
