// Part of bench/metrics.sh, run once per measurement so that each peak RSS
// is its own process's: a scrape of a rule's views, a scrape of a map as a
// labelled counter, or entries() over the same map; and filling the map.
//
//   metrics_scrape.ts rule PIN_ROOT RUNS      scrape rule "stat" at PIN_ROOT
//   metrics_scrape.ts map PIN RUNS            scrape the map at PIN (nr label)
//   metrics_scrape.ts entries PIN RUNS        entries() over the map at PIN
//   metrics_scrape.ts fill PIN COUNT          COUNT entries into the map at PIN
//
// Prints the median milliseconds of one run, and what one run gave.
import { formatMetrics, MetricsCollector, openMap } from "../mod.ts";

const [mode, pin, n] = Deno.args;
const runs = Number(n ?? "5");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(fn: () => Promise<number> | number): Promise<void> {
  const t: number[] = [];
  let got = 0;
  for (let i = 0; i < runs; i++) {
    const a = performance.now();
    got = await fn();
    t.push(performance.now() - a);
  }
  console.log(`${median(t).toFixed(1)} ${got}`);
}

const key = (nr: number) => ({
  ifindex: 0,
  err: 0,
  nr,
  addr: [0, 0, 0, 0],
  addr6: Array(16).fill(0),
  comm: "",
  ip: 0n,
  cgroup: 0n,
});

switch (mode) {
  case "fill": {
    using m = openMap(pin!);
    const count = Number(n);
    m.setMany(
      Array.from({ length: count }, (_, i) => [key(i), BigInt(i)] as const),
    );
    break;
  }
  case "rule": {
    const c = new MetricsCollector({
      seriesLimit: 100000,
      views: [{ name: "cgstat", rule: "stat", pinRoot: pin! }],
    });
    await timed(async () => {
      const snap = await c.collect();
      if (snap.errors.length > 0) throw new Error(snap.errors[0]!.message);
      formatMetrics(snap.families, "text");
      return snap.families.find((f) => f.name === "cgstat_tasks")?.samples
        .length ?? 0;
    });
    break;
  }
  case "map": {
    const c = new MetricsCollector({
      maps: [{
        name: "entries_total",
        map: pin!,
        labels: [{ name: "nr", field: "nr" }],
        seriesLimit: 200000,
      }],
    });
    await timed(async () => {
      const snap = await c.collect();
      formatMetrics(snap.families, "text");
      return snap.families[0]!.samples.length;
    });
    break;
  }
  case "entries": {
    using m = openMap(pin!);
    await timed(() => {
      let count = 0;
      for (const _ of m.entries()) count++;
      return count;
    });
    break;
  }
  default:
    throw new Error(`unknown mode "${mode}"`);
}
