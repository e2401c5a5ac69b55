import { join } from "node:path";
import type { FakeApns } from "../test/support/fakes/fake-apns.js";
import { startProsody } from "../test/support/servers/xmpp-servers.js";
import { connectUser } from "../test/support/xmpp-client.js";
import { resultField, runCommand } from "../test/support/xmpp-commands.js";
import { startAppServer, stopAppServer, waitUntilReady } from "./app-server.js";

// The realistic figure: real messages through a real Prosody 0.12 (mod_cloud_notify) to offline users,
// Prosody publishing to the app server, the app server pushing to the APNs fake. Latency is measured
// from the moment the sender's message leaves to the moment "Apple" receives the push for that user.

const USERS = 20;
const RATE = 100;

export async function runProsodyEndToEnd(opts: {
  url: string;
  apns: FakeApns;
  durationMs: number;
  dir: string;
  appConfig: object;
}): Promise<{ summary: string }> {
  const names = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const prosody = await startProsody({ runDir: join(opts.dir, "prosody"), extraUsers: names });
  // The same app server as every other scenario: compiled, with the image's Node flags.
  const child = startAppServer({
    dir: opts.dir,
    url: opts.url,
    service: prosody.componentService,
    componentDomain: prosody.componentDomain,
    componentSecret: prosody.componentSecret,
    domains: ["localhost"],
    app: opts.appConfig,
  });
  try {
    await waitUntilReady();
    const tokens = new Map<string, string>();
    for (const [i, name] of names.entries()) {
      const u = await connectUser(prosody, name, `${name}-pass`);
      const token = (0xe2e00000 + i).toString(16).padStart(64, "0");
      tokens.set(name, token);
      const reply = await runCommand(u, prosody.componentDomain, "register-push-apns", { token, "device-id": "phone" });
      await u.enablePush({
        jid: prosody.componentDomain,
        node: resultField(reply, "node") ?? "",
        secret: resultField(reply, "secret") ?? "",
      });
      await u.stop();
    }
    opts.apns.reset();
    const sender = await connectUser(prosody, "bob", "bob-pass");
    const sentAt = new Map<string, number[]>([...tokens.values()].map((t) => [t, []]));
    const started = performance.now();
    let sent = 0;
    while (performance.now() - started < opts.durationMs) {
      const due = Math.floor(((performance.now() - started) / 1000) * RATE);
      for (; sent < due; sent++) {
        const name = names[sent % USERS]!;
        sentAt.get(tokens.get(name)!)!.push(performance.now());
        void sender.sendMessage(`${name}@localhost`, `message ${sent}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const elapsed = (performance.now() - started) / 1000;
    for (let i = 0; i < 100 && opts.apns.requests.length < sent; i++) await new Promise((r) => setTimeout(r, 100));
    await sender.stop();
    // Pair the n-th push to a user with the n-th message sent to them.
    const latencies: number[] = [];
    const seen = new Map<string, number>();
    const epochOffset = Date.now() - performance.now();
    for (const r of opts.apns.requests) {
      const k = seen.get(r.token) ?? 0;
      seen.set(r.token, k + 1);
      const t = sentAt.get(r.token)?.[k];
      if (t !== undefined) latencies.push(r.receivedAt - (t + epochOffset));
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
    return {
      summary:
        `real Prosody 0.12 end to end: ${sent} messages to ${USERS} offline users at ${(sent / elapsed).toFixed(0)}/s → ` +
        `${opts.apns.requests.length} pushes at APNs; message-to-push latency p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${(latencies[latencies.length - 1] ?? NaN).toFixed(1)} ms`,
    };
  } finally {
    await stopAppServer(child);
    await prosody.stop();
  }
}
