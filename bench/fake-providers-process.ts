// The provider fakes for the benchmark, in a process of their own: their work (TLS, HTTP/2, JSON) and
// their garbage collection must not delay the load generator's clock. Controlled over IPC.
import { startFakeApns, type ApnsScript } from "../test/support/fakes/fake-apns.js";
import { startFakeJpush, type JpushScript } from "../test/support/fakes/fake-jpush.js";
import { JPUSH_APP_KEY, JPUSH_MASTER_SECRET } from "../test/support/test-config.js";

export type FakesCommand =
  | { cmd: "reset"; delayMs: number }
  | { cmd: "apnsDefault"; script: ApnsScript }
  | { cmd: "jpushDefault"; script: JpushScript }
  | { cmd: "stats" };

export interface FakesStats {
  apnsRequests: number;
  jpushRequests: number;
  /** Distinct pushes accepted (apns-id for APNs, cid for JPush). */
  deliveredPushes: number;
}

const delayMs = Number(process.argv[2] ?? 2);
const apns = await startFakeApns({ delayMs, lean: true });
const jpush = await startFakeJpush({ appKey: JPUSH_APP_KEY, masterSecret: JPUSH_MASTER_SECRET, delayMs });
process.send!({ ready: true, apnsPort: apns.port, ca: apns.ca, jpushUrl: jpush.url });
process.on("message", (m: FakesCommand & { id: number }) => {
  switch (m.cmd) {
    case "reset":
      apns.reset();
      jpush.reset();
      apns.setDelayMs(m.delayMs);
      jpush.setDelayMs(m.delayMs);
      break;
    case "apnsDefault":
      apns.setDefault(m.script);
      break;
    case "jpushDefault":
      jpush.setDefault(m.script);
      break;
    case "stats": {
      const ids = new Set<string>();
      for (const r of apns.delivered()) ids.add(r.headers["apns-id"] ?? `${r.receivedAt}${Math.random()}`);
      for (const r of jpush.delivered()) ids.add((r.body as { cid?: string } | undefined)?.cid ?? `${r.receivedAt}${Math.random()}`);
      const stats: FakesStats = {
        apnsRequests: apns.requests.length,
        jpushRequests: jpush.requests.filter((r) => r.path === "/v3/push").length,
        deliveredPushes: ids.size,
      };
      process.send!({ id: m.id, stats });
      return;
    }
  }
  process.send!({ id: m.id });
});
process.on("disconnect", () => {
  void Promise.all([apns.stop(), jpush.stop()]).then(() => process.exit(0));
});
