// npx tsx bench/profile-summary.ts <file.cpuprofile|file.heapprofile> [--last-seconds N] [--top N]
// Where an app server's CPU went, from a V8 CPU profile (BENCH_CPU_PROF=dir npm run bench): self time
// by package (node_modules/<name>, node: internals, our src/ folders, GC, idle) and by function, over
// the whole profile or only its last N seconds (the measured run, without start-up and warm-up).
// Or where its allocated bytes came from, from an allocation profile (BENCH_ALLOC_PROF=dir).
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args[0];
if (!file) throw new Error("usage: profile-summary <file.cpuprofile> [--last-seconds N] [--top N]");
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const lastSeconds = opt("--last-seconds", Infinity);
const top = opt("--top", 25);
// --per N: also print microseconds per push (N pushes in the window), to compare runs at different rates.
const per = opt("--per", 0);

interface AllocNode {
  callFrame: Node["callFrame"];
  selfSize: number;
  children: AllocNode[];
}

if (file.endsWith(".heapprofile")) {
  const root = (JSON.parse(readFileSync(file, "utf8")) as { head: AllocNode }).head;
  const pkg = new Map<string, number>();
  const fn = new Map<string, number>();
  let total = 0;
  const walk = (n: AllocNode) => {
    total += n.selfSize;
    const p = packageOf({ id: 0, callFrame: n.callFrame });
    pkg.set(p, (pkg.get(p) ?? 0) + n.selfSize);
    const f = `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
    fn.set(f, (fn.get(f) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(root);
  for (const [m, title] of [
    [pkg, "allocated bytes by package"],
    [fn, "allocated bytes by function"],
  ] as const) {
    console.log(`\n${title} (of ${(total / 1048576).toFixed(0)} MB sampled)`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`${((v / total) * 100).toFixed(1).padStart(6)} %  ${k}`);
  }
  process.exit(0);
}

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

function packageOf(n: Node): string {
  const { url, functionName } = n.callFrame;
  if (functionName === "(garbage collector)") return "(gc)";
  if (functionName === "(idle)") return "(idle)";
  if (functionName === "(program)") return "(program)";
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith("node:")) return url;
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  return url === "" ? "(native)" : url.replace(/^.*\//, "");
}

const times: number[] = [];
let t = profile.startTime;
for (const d of profile.timeDeltas) times.push((t += d));
const from = Number.isFinite(lastSeconds) ? profile.endTime - lastSeconds * 1e6 : -Infinity;
const pkg = new Map<string, number>();
const fn = new Map<string, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  if (times[i]! < from) continue;
  const n = byId.get(profile.samples[i]!)!;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  total += dt;
  const p = packageOf(n);
  pkg.set(p, (pkg.get(p) ?? 0) + dt);
  const f = `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
  fn.set(f, (fn.get(f) ?? 0) + dt);
}
const idle = pkg.get("(idle)") ?? 0;
const busy = total - idle;
const show = (m: Map<string, number>, title: string) => {
  const perPush = per > 0 ? `, ${(busy / per).toFixed(1)} µs busy per push` : "";
  console.log(`\n${title} (share of busy time, ${(busy / 1e6).toFixed(2)} s busy of ${(total / 1e6).toFixed(2)} s${perPush})`);
  for (const [k, v] of [...m]
    .filter(([k]) => k !== "(idle)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)) {
    const us = per > 0 ? `${(v / per).toFixed(1).padStart(7)} µs/push  ` : "";
    console.log(`${((v / busy) * 100).toFixed(1).padStart(6)} %  ${us}${k}`);
  }
};
show(pkg, "by package");
show(fn, "by function");
