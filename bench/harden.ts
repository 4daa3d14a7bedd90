// The watcher's costs that issue 10 measured: a large manifest, and events
// outside every rule. Needs root. Everything lives in a private bpffs, a
// private cgroup subtree and temporary directories, removed on exit.
//
//   deno run -A bench/harden.ts
//
// 1. A manifest of MANIFEST symlink exposures (of one pin, written straight
//    into the manifest): the watcher's start-up (watch() until it has
//    reconciled every one), then the time to add one more exposure and to
//    remove it again (expose() and unexpose()), beside the read and the
//    write of a file of the manifest's size (the floor of any rewrite).
// 2. The watcher's CPU seconds (a `bpfx watch` process, from
//    /proc/PID/stat) per 10,000 cgroup events outside every rule: 5,000
//    mkdir and rmdir pairs in a subtree next to the rule's.
//
// Counts: BPFX_BENCH_MANIFEST (40000), BPFX_BENCH_OUTSIDE (5000 pairs);
// BPFX_BENCH_QUICK=1 sets them to 4000 and 1000.
import {
  attach,
  createView,
  expose,
  mountBpffs,
  unexpose,
  unmount,
  unpin,
  watch,
} from "../mod.ts";
import { cgroup2Mount, CGSTAT, count, ROOT, TASKS } from "./_common.ts";

const MANIFEST = count("BPFX_BENCH_MANIFEST", 40000, 4000);
const OUTSIDE = count("BPFX_BENCH_OUTSIDE", 5000, 1000);

/** User and system CPU seconds of process `pid`. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime), counted from 1; f starts at field 3.
  return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
}

function row(what: string, value: string): void {
  console.log(`${what.padEnd(62)} ${value.padStart(12)}`);
}

const bpffs = await Deno.makeTempDir({ prefix: "bpfxbench-" });
const tmp = await Deno.makeTempDir({ prefix: "bpfxbench-h-" });
const cgroupRoot = `${await cgroup2Mount()}/bpfxbench-h-${Deno.pid}`;
let mounted = false;
let child: Deno.ChildProcess | undefined;
try {
  mountBpffs(bpffs);
  mounted = true;
  console.log(
    `== Hardened watcher: a manifest of ${MANIFEST} exposures; ${
      OUTSIDE * 2
    } events outside every rule`,
  );
  row("what", "figure");

  // 1. A large manifest.
  const pin = `${bpffs}/tasks`;
  createView(`${TASKS}:tasks`, { pin });
  const state = `${tmp}/state`;
  await Deno.mkdir(state, { mode: 0o700 });
  await Deno.mkdir(`${tmp}/x`);
  const id = (await new Deno.Command("bpftool", {
    args: ["-j", "link", "show", "pinned", pin],
    stdout: "piped",
  }).output()).stdout;
  const objectId = JSON.parse(new TextDecoder().decode(id)).id as number;
  const exposures = [];
  for (let i = 0; i < MANIFEST; i++) {
    const path = `${tmp}/x/e${i}`;
    await Deno.symlink(pin, path);
    exposures.push({ pin, path, mode: "symlink", objectId, kind: "link" });
  }
  const text = JSON.stringify({ version: 1, exposures, rules: [] }, null, 2);
  await Deno.writeTextFile(`${state}/manifest.json`, text + "\n");
  let t = performance.now();
  {
    await using w = watch({ state });
    const it = w[Symbol.asyncIterator]();
    await it.next(); // "started": the first reconcile is done
    row(
      `watcher start-up, ${MANIFEST} exposures checked`,
      `${(performance.now() - t).toFixed(0)} ms`,
    );
  }
  t = performance.now();
  expose(pin, { path: `${tmp}/x/one-more`, state });
  row(
    `expose() of one more, beside ${MANIFEST}`,
    `${(performance.now() - t).toFixed(1)} ms`,
  );
  t = performance.now();
  unexpose(`${tmp}/x/one-more`, { state });
  row(
    `unexpose() of it`,
    `${(performance.now() - t).toFixed(1)} ms`,
  );
  // The floor of a rewrite: read and write (with fsync) a file this size.
  t = performance.now();
  const bytes = await Deno.readFile(`${state}/manifest.json`);
  {
    using f = await Deno.open(`${tmp}/copy`, { write: true, create: true });
    await f.write(bytes);
    await f.sync();
  }
  row(
    `  floor: read and write+fsync ${(bytes.length / 1e6).toFixed(1)} MB`,
    `${(performance.now() - t).toFixed(1)} ms`,
  );

  // 2. Events outside every rule, against a `bpfx watch` process.
  await Deno.mkdir(`${cgroupRoot}/rule`, { recursive: true });
  await Deno.mkdir(`${cgroupRoot}/outside`);
  const state2 = `${tmp}/state2`;
  await Deno.mkdir(state2, { mode: 0o700 });
  await attach(`${CGSTAT}:cgstat`, {
    cgroupRoot: `${cgroupRoot}/rule`,
    pinRoot: `${bpffs}/views`,
    exposeRoot: `${tmp}/mirror`,
    name: "stat",
    state: state2,
  });
  child = new Deno.Command(`${ROOT}/bpfx`, {
    args: ["watch", "--state", state2],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  await lines.read(); // its first action: it is watching
  await new Promise((r) => setTimeout(r, 300));
  const before = await cpuSeconds(child.pid);
  t = performance.now();
  for (let i = 0; i < OUTSIDE; i++) {
    Deno.mkdirSync(`${cgroupRoot}/outside/c${i}`);
    Deno.removeSync(`${cgroupRoot}/outside/c${i}`);
  }
  const loop = (performance.now() - t) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const used = (await cpuSeconds(child.pid)) - before;
  row(
    `watcher CPU for ${OUTSIDE * 2} events outside every rule`,
    `${used.toFixed(2)} s`,
  );
  row(
    `  per 10,000 events (the loop making them took ${loop.toFixed(1)} s)`,
    `${(used * 10000 / (OUTSIDE * 2)).toFixed(2)} s`,
  );
  lines.releaseLock();
} finally {
  if (child !== undefined) {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
  for (const d of [`${cgroupRoot}/outside`, `${cgroupRoot}/rule`, cgroupRoot]) {
    await Deno.remove(d).catch(() => {});
  }
  if (mounted) {
    unpin(bpffs, { recursive: true });
    unmount(bpffs);
  }
  await Deno.remove(bpffs).catch(() => {});
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
