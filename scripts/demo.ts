// npm run demo: the whole path on loopback, in one command. A throwaway Prosody, xmpp-push on an
// embedded database, a local stand-in for Apple's APNs; alice registers her phone and goes offline,
// bob writes to her, and the push arrives at "Apple" — printed here with its audit row. Everything
// is removed afterwards.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { auditTable } from "../src/cli/admin-commands.js";
import { configSchema } from "../src/config/config-schema.js";
import { createServer, type Server } from "../src/main.js";
import { createLogger } from "../src/observability/logger.js";
import { createPgDeliveryAudit } from "../src/store/delivery-audit-pg.js";
import { startFakeApns, type FakeApns } from "../test/support/fakes/fake-apns.js";
import { testCerts } from "../test/support/fakes/test-certs.js";
import { startProsody, type XmppServer } from "../test/support/servers/xmpp-servers.js";
import { connectUser } from "../test/support/xmpp-client.js";
import { resultField, runCommand } from "../test/support/xmpp-commands.js";

const ROOT = resolve(import.meta.dirname, "..");
const say = (s: string) => process.stdout.write(`\n▶ ${s}\n`);

function ensureProsody(): void {
  try {
    execFileSync("prosodyctl", ["about"], { stdio: "ignore" });
  } catch {
    say("Prosody is not installed: installing it from Debian packages (needs root)");
    execFileSync(join(ROOT, "scripts/install-test-deps.sh"), { stdio: "inherit" });
  }
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "xmpp-push-demo-"));
  let prosody: XmppServer | undefined;
  let apns: FakeApns | undefined;
  let server: Server | undefined;
  try {
    ensureProsody();
    say("starting a throwaway Prosody 0.12 with mod_cloud_notify on loopback");
    prosody = await startProsody({ runDir: join(dir, "prosody") });
    console.log(`  c2s 127.0.0.1:${prosody.c2sPort}, component ${prosody.componentDomain} on ${prosody.componentService}`);

    say("starting a local stand-in for Apple's push service (HTTP/2 over TLS)");
    apns = await startFakeApns();
    console.log(`  https://127.0.0.1:${apns.port}`);

    say("starting xmpp-push (embedded database, one app delivering through APNs)");
    const config = configSchema.parse({
      component: { service: prosody.componentService, domain: prosody.componentDomain, secret: prosody.componentSecret },
      domains: ["localhost"],
      database: { dataDir: join(dir, "data") },
      http: { port: 0 },
      log: { level: "warn" },
      apps: [
        {
          id: "demo",
          apns: {
            bundleId: "org.example.demo",
            teamId: "DEMOTEAM01",
            keyId: "DEMOKEY001",
            key: testCerts().apnsKey,
            address: "127.0.0.1",
            port: apns.port,
            ca: apns.ca,
          },
        },
      ],
    });
    server = await createServer(config, { log: createLogger({ level: "warn" }) });
    await server.start();
    for (let i = 0; i < 100 && server.component.state() !== "online"; i++) await new Promise((r) => setTimeout(r, 100));
    console.log(`  component ${server.component.state()}; HTTP on ${server.httpAddress()}`);

    say("alice's phone registers with the push service (Conversations' register-push-apns command)");
    const alice = await connectUser(prosody, "alice", "alice-pass");
    const token = "0a1b2c3d".repeat(8);
    const reply = await runCommand(alice, prosody.componentDomain, "register-push-apns", { token, "device-id": "alices-phone" });
    const node = resultField(reply, "node") ?? "";
    console.log(`  got node ${node} and a secret`);

    say("alice enables push on her own server (XEP-0357 <enable/>) and goes offline");
    await alice.enablePush({ jid: prosody.componentDomain, node, secret: resultField(reply, "secret") ?? "" });
    await alice.stop();

    say("bob sends alice a message");
    const bob = await connectUser(prosody, "bob", "bob-pass");
    await bob.sendMessage("alice@localhost", "Hi Alice, are you there?");
    await bob.stop();

    say("Prosody publishes to xmpp-push, which pushes to APNs; this is what Apple received:");
    for (let i = 0; i < 100 && apns.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const req = apns.requests[0];
    if (!req) {
      console.log("  nothing arrived: see the logs above");
      return 1;
    }
    console.log(`  POST ${req.headers[":path"]}`);
    for (const h of ["apns-topic", "apns-push-type", "apns-priority", "apns-expiration", "apns-collapse-id", "apns-id"])
      console.log(`  ${h}: ${req.headers[h]}`);
    console.log(`  authorization: bearer <ES256 JWT, kid ${req.jwt?.kid}, team ${req.jwt?.iss}>`);
    console.log(`  ${JSON.stringify(req.payload)}`);
    console.log("  (no sender, no message text: apps send a generic text unless includeMessageContent is set)");

    say("and the audit row (xmpp-push audit --node " + node + "):");
    await server.writes.flush();
    const rows = await createPgDeliveryAudit({ knex: server.db.knex }).list({ node, limit: 10 });
    console.log(auditTable([...rows].reverse()).replace(/^/gm, "  "));
    say("done; cleaning up");
    return 0;
  } finally {
    await server?.stop().catch(() => undefined);
    await apns?.stop().catch(() => undefined);
    await prosody?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
