import { spawn } from "node:child_process";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { startFakeApns } from "../test/support/fakes/fake-apns.js";
import { PRODUCTION_NODE_FLAGS } from "../test/support/app-process.js";
import { waitFor } from "../test/support/wait-for.js";
import { cpuSecondsBetween, cpuSecondsByPid } from "./proc-stats.js";

// `npm run bench -- --floor`: the CPU per push of bench/floor-program.ts, the least a push server can do
// (read a publish, one HTTP/2 request to a fake APNs, write a reply), at the Prosody set's everyday
// rates, with the production Node flags. On a VM each push at a low rate wakes a cold process, and that
// costs far more than the same work in a busy one: this says how much of the app server's CPU per push
// at 200/s is the machine's and how much is ours. Bounded: two rates, a fixed time each.

const ROOT = resolve(import.meta.dirname, "..");
const PUBLISH = `${"x".repeat(599)}\n`;

export interface FloorFigures {
  readonly rate: number;
  readonly cpuMsPerPush: number;
  readonly replied: number;
  readonly sent: number;
}

export async function runFloor({ seconds, log }: { seconds: number; log: (line: string) => void }): Promise<FloorFigures[]> {
  const apns = await startFakeApns({ lean: true });
  let peer: Socket | undefined;
  let replied = 0;
  const trigger = createServer((s) => {
    s.setNoDelay(true);
    peer = s;
    s.on("data", (d: Buffer) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) replied += 1;
    });
  });
  await new Promise<void>((r) => trigger.listen(0, "127.0.0.1", r));
  const child = spawn(
    process.execPath,
    [
      ...PRODUCTION_NODE_FLAGS,
      "--import",
      "tsx",
      join(ROOT, "bench/floor-program.ts"),
      String((trigger.address() as AddressInfo).port),
      String(apns.port),
    ],
    { env: { PATH: process.env.PATH ?? "", FLOOR_APNS_CA: apns.ca }, stdio: ["ignore", "inherit", "inherit"], cwd: ROOT },
  );
  try {
    await waitFor("the floor program to connect", () => peer !== undefined, 30_000);
    const drive = async (rate: number, ms: number) => {
      const t0 = performance.now();
      let sent = 0;
      while (performance.now() - t0 < ms) {
        peer!.write(PUBLISH);
        sent += 1;
        const next = t0 + (sent * 1000) / rate;
        await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
      }
      return sent;
    };
    await drive(1000, 3000); // warm-up: JIT, TLS session
    const out: FloorFigures[] = [];
    for (const rate of [200, 1000]) {
      log(`running: floor program, ${rate}/s (${seconds} s)`);
      replied = 0;
      const before = cpuSecondsByPid([child.pid!]);
      const sent = await drive(rate, seconds * 1000);
      await waitFor("the floor program's last replies", () => replied >= sent, 10_000).catch(() => undefined);
      const cpu = cpuSecondsBetween(before, cpuSecondsByPid([child.pid!]));
      out.push({ rate, cpuMsPerPush: (cpu * 1000) / sent, replied, sent });
      log(`  ${((cpu * 1000) / sent).toFixed(3)} ms CPU per push (${replied}/${sent} answered)`);
    }
    return out;
  } finally {
    child.kill();
    peer?.destroy();
    trigger.close();
    await apns.stop();
  }
}
