import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AddressKind } from "../../src/domain/registration.js";
import { createServer, type Server } from "../../src/main.js";
import { createPgDeliveryAudit } from "../../src/store/delivery-audit-pg.js";
import { freshTestDatabase, type TestDatabase } from "../support/db.js";
import { startFakeApns, type FakeApns } from "../support/fakes/fake-apns.js";
import { startFakeFcm, type FakeFcm } from "../support/fakes/fake-fcm.js";
import { startFakeJpush, type FakeJpush } from "../support/fakes/fake-jpush.js";
import { recordingLogger } from "../support/memory/recording-logger.js";
import { fakeApnsSection, JPUSH_APP_KEY, JPUSH_MASTER_SECRET, testConfig } from "../support/test-config.js";

// Each real provider adapter inside the whole pipeline, against its loopback fake: a delivery, a dead
// token disabling the registration, a retry that succeeds later, and a configuration error that
// disables nothing.

let db: TestDatabase;
let apns: FakeApns;
let jpush: FakeJpush;
let fcm: FakeFcm;
const servers: Server[] = [];

beforeAll(async () => {
  db = await freshTestDatabase();
  apns = await startFakeApns();
  jpush = await startFakeJpush({ appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET });
  fcm = await startFakeFcm();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  apns.reset();
  jpush.reset();
  fcm.reset();
  await db.knex("delivery_jobs").del();
});
afterAll(async () => {
  await apns?.stop();
  await jpush?.stop();
  await fcm?.stop();
  await db?.dispose();
});

type Kind = Exclude<AddressKind, never>;
let seq = 0;

async function setup(kind: Kind) {
  const app = {
    id: `${kind}-app`,
    strategy: { providers: [kind], mode: "fallback" },
    ...(kind === "apns" ? { apns: fakeApnsSection(apns) } : {}),
    ...(kind === "jpush" ? { jpush: { appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, baseUrl: jpush.url } } : {}),
    ...(kind === "fcm" ? { fcm: { serviceAccount: fcm.serviceAccountJson(), baseUrl: fcm.url } } : {}),
  };
  const server = await createServer(
    testConfig({
      delivery: { retryBaseMs: 50, retryMaxMs: 100, auditFlushMs: 5, breakerFailureThreshold: 100, breakerCooldownMs: 100 },
      apps: [app],
    }),
    { log: recordingLogger().log, db },
  );
  servers.push(server);
  seq += 1;
  const token =
    kind === "apns" ? seq.toString(16).padStart(64, "0") : kind === "jpush" ? `regid${seq}` : `fcm-token-${seq}-${"x".repeat(40)}`;
  const r = await server.registrations.register({
    ownerJid: `user${seq}@localhost`,
    app: app.id,
    deviceId: "phone",
    dialect: "p2",
    provider: kind,
    token,
    withSecret: true,
  });
  if (!r.ok) throw new Error(r.message);
  const publish = () =>
    server.publish.publish({
      fromDomain: "localhost",
      node: r.registration.node,
      options: new Map([["secret", r.secret!]]),
      notification: { priority: "high", call: false, lastMessageBody: "New Message!" },
    });
  const audit = async () => {
    await server.writes.flush();
    return [...(await createPgDeliveryAudit({ knex: db.knex }).list({ node: r.registration.node, limit: 20 }))].reverse();
  };
  return { server, node: r.registration.node, token, publish, audit };
}

/** Makes the fake for `kind` answer with its documented response for each situation. */
function script(kind: Kind, token: string, situation: "dead" | "down" | "config" | "ok") {
  if (kind === "apns") {
    const answers = {
      dead: { status: 410, reason: "Unregistered" },
      down: { status: 503, reason: "ServiceUnavailable" },
      config: { status: 403, reason: "InvalidProviderToken" },
      ok: undefined,
    };
    apns.script((req) => (req.token === token ? answers[situation] : undefined));
  } else if (kind === "jpush") {
    const answers = {
      dead: { httpStatus: 400, code: 1011 },
      down: { httpStatus: 503, code: 1030 },
      config: { httpStatus: 401, code: 1004 },
      ok: undefined,
    };
    jpush.script(() => answers[situation]);
  } else {
    const answers = {
      dead: { httpStatus: 404, status: "NOT_FOUND", errorCode: "UNREGISTERED" },
      down: { httpStatus: 503, status: "UNAVAILABLE", errorCode: "UNAVAILABLE" },
      config: { httpStatus: 401, status: "UNAUTHENTICATED", errorCode: "THIRD_PARTY_AUTH_ERROR" },
      ok: undefined,
    };
    fcm.script(() => answers[situation]);
  }
}

const deliveredCount = (kind: Kind) =>
  kind === "apns" ? apns.delivered().length : kind === "jpush" ? jpush.delivered().length : fcm.delivered().length;

for (const kind of ["apns", "jpush", "fcm"] as const) {
  describe(kind, () => {
    it("delivers", async () => {
      const t = await setup(kind);
      // APNs: a first success proves the environment, so later token rejections are believed.
      expect(await t.publish()).toBe("delivered");
      expect(deliveredCount(kind)).toBe(1);
      expect((await t.audit()).map((r) => `${r.provider}:${r.outcome}`)).toEqual([`${kind}:delivered`]);
    });

    it("disables the registration when the provider says the token is dead", async () => {
      const t = await setup(kind);
      expect(await t.publish()).toBe("delivered");
      script(kind, t.token, "dead");
      expect(await t.publish()).toBe("token-dead");
      expect((await t.server.registrationStore.findByNode(t.node))?.disabledAtMs).toEqual(expect.any(Number));
      expect(await t.publish()).toBe("unknown-node");
    });

    it("retries a transient failure until it succeeds", async () => {
      const t = await setup(kind);
      script(kind, t.token, "down");
      expect(await t.publish()).toBe("queued");
      script(kind, t.token, "ok");
      // Until the delivery is audited, not merely seen by the provider: the audit row is written when the
      // worker has the provider's answer, which on a loaded machine comes after the fake recorded the request.
      const delivered = async () => (await t.audit()).some((r) => r.outcome === "delivered");
      for (let i = 0; i < 50 && !(await delivered()); i++) {
        await t.server.worker.runOnce();
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(deliveredCount(kind)).toBe(1);
      const rows = await t.audit();
      expect(rows.map((r) => r.outcome)).toEqual(["retry", "delivered"]);
      expect(rows[1]!.attempt).toBe(2);
    });

    it("disables nothing on a configuration error", async () => {
      const t = await setup(kind);
      script(kind, t.token, "config");
      expect(await t.publish()).toBe("queued");
      expect(await t.publish()).toBe("queued");
      const reg = await t.server.registrationStore.findByNode(t.node);
      expect(reg?.disabledAtMs).toBeUndefined();
      expect(reg?.addresses[0]?.disabledAtMs).toBeUndefined();
      expect((await t.audit()).map((r) => r.outcome)).toEqual(["config_error", "retry"]); // the second never left: breaker open
    });
  });
}
