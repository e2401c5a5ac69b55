// Preloaded into the app server by BENCH_ALLOC_PROF=<dir> (node --import): a sampling allocation
// profile that keeps objects the garbage collector already freed, i.e. where the bytes a push
// allocates come from (node's own --heap-prof keeps only what is still alive at exit). Written as
// <dir>/alloc-<pid>.heapprofile when the process exits; bench/profile-summary.ts reads it.
import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const dir = process.env.BENCH_ALLOC_PROF;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("HeapProfiler.startSampling", {
    samplingInterval: 16384,
    includeObjectsCollectedByMajorGC: true,
    // BENCH_ALLOC_PROF_PROMOTED=1: only what outlived a scavenge (promoted to the old generation), i.e.
    // what drives the mark-compacts.
    includeObjectsCollectedByMinorGC: process.env.BENCH_ALLOC_PROF_PROMOTED !== "1",
  });
  process.once("exit", () => {
    session.post("HeapProfiler.stopSampling", (err, res) => {
      if (!err) writeFileSync(join(dir, `alloc-${process.pid}.heapprofile`), JSON.stringify(res.profile));
    });
  });
}
