// The watcher's latencies and bursts, with one in-process watcher (watch()),
// each figure beside the raw fanotify event it reacts to (watchFs()), in
// one run. Needs root. Everything lives in a private bpffs, a private cgroup
// subtree and temporary directories, removed on exit, even on failure.
//
//   deno run -A bench/watch.ts
//
// 1. unpin (unlink of a pin) -> its exposure gone: PINS views of one pinned
//    tasks program, each exposed once as a symlink; the time from the unlink
//    to the symlink gone, polled with lstat in a tight loop (in a worker, so
//    that the main thread can drive the watcher).
// 2. mkdir of a cgroup -> its view readable in the mirror, under an attach
//    rule: CGROUPS cgroups, polled the same way.
// 3. A burst of BURST cgroup mkdirs, then their rmdirs: none missed (mirror
//    files counted) and the time until the mirror is true.
//
// Counts: BPFX_BENCH_PINS (1000), BPFX_BENCH_CGROUPS (300), BPFX_BENCH_BURST
// (10000); BPFX_BENCH_QUICK=1 sets them to 100, 50 and 1000.
import {
  attach,
  createView,
  expose,
  exposures,
  load,
  mountBpffs,
  unexpose,
  watch,
  type WatchAction,
  watchFs,
} from "../mod.ts";
import { cgroup2Mount, CGSTAT, count, TASKS } from "./_common.ts";
import {
  cleanUp,
  gone,
  mkdirFloor,
  nextWithin,
  printTable,
  type Row,
  sleep,
  spinner,
  until,
} from "./_timing.ts";

const PINS = count("BPFX_BENCH_PINS", 1000, 100);
const CGROUPS = count("BPFX_BENCH_CGROUPS", 300, 50);
const BURST = count("BPFX_BENCH_BURST", 10000, 1000);
/** How long one poll waits before the change counts as missed. */
const GIVE_UP_MS = 2000;
/** The pause between two timed changes, for the watcher to be idle again. */
const PAUSE_MS = 5;

// ---------------------------------------------------------------------------
// Helpers

/** How many `name` files are in the directories right below `dir`. */
function filesBelow(dir: string, name: string): number {
  let n = 0;
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory && !gone(`${dir}/${e.name}/${name}`)) n++;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Set-up, the three runs, and the clean-up

const bpffs = await Deno.makeTempDir({ prefix: "bpfxbench-" });
const exposeDir = await Deno.makeTempDir({ prefix: "bpfxbench-x-" });
const mirror = await Deno.makeTempDir({ prefix: "bpfxbench-m-" });
const state = await Deno.makeTempDir({ prefix: "bpfxbench-s-" });
const cgroupRoot = `${await cgroup2Mount()}/bpfxbench-${Deno.pid}`;
let mounted = false;
const layout = {
  cgroupRoot,
  pinRoot: `${bpffs}/views`,
  exposeRoot: mirror,
  name: "stat",
};

const rows: Row[] = [];
const actions: WatchAction[] = [];
const counts = new Map<string, number>();
const seen = (action: string) => counts.get(action) ?? 0;

try {
  mountBpffs(bpffs);
  mounted = true;
  await Deno.mkdir(cgroupRoot);
  console.log(
    `== The watcher, in-process: ${PINS} pins, ${CGROUPS} cgroups, a burst of ${BURST}`,
  );

  // 1. Pins and their exposures, made before the watcher starts.
  const prog = load(TASKS, { pinDir: `${bpffs}/prog` }).programs[0]!.path;
  await Deno.mkdir(`${bpffs}/pins`);
  const pins = Array.from({ length: PINS }, (_, i) => `${bpffs}/pins/p${i}`);
  const paths = pins.map((_, i) => `${exposeDir}/e${i}`);
  let t = performance.now();
  for (const pin of pins) createView(prog, { pin });
  const tViews = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < PINS; i++) {
    expose(pins[i]!, { path: paths[i]!, state });
  }
  const tExpose = performance.now() - t;

  t = performance.now();
  await using watcher = watch({ state });
  const tStart = performance.now() - t;
  const consuming = (async () => {
    for await (const a of watcher) {
      actions.push(a);
      counts.set(a.action, seen(a.action) + 1);
    }
  })();
  await until(() => seen("started") > 0, 5000);

  using timer = spinner(GIVE_UP_MS);
  const unexposed: number[] = [];
  let missed = 0;
  for (let i = 0; i < PINS; i++) {
    const ms = await timer.time("unlink", pins[i]!, paths[i]!, true);
    if (ms === null) missed++;
    else unexposed.push(ms);
    // The next one starts once the watcher has reported this one and is
    // idle again: a latency, not a rate (the bursts measure rates).
    await until(() => seen("unexposed") > i, GIVE_UP_MS);
    await sleep(PAUSE_MS);
  }
  rows.push({
    what: "unpin -> its exposure gone (watch)",
    n: PINS,
    samples: unexposed,
    missed,
  });

  // The peer: the same unlink, to its raw event in JS (watchFs).
  {
    const peerPins = Array.from(
      { length: Math.min(PINS, 300) },
      (_, i) => `${bpffs}/pins/q${i}`,
    );
    for (const pin of peerPins) createView(prog, { pin });
    await using raw = watchFs([`${bpffs}/pins`]);
    const it = raw[Symbol.asyncIterator]();
    const samples: number[] = [];
    let lost = 0;
    for (const pin of peerPins) {
      const t0 = performance.now();
      Deno.removeSync(pin);
      for (;;) {
        const e = await nextWithin(it, GIVE_UP_MS);
        if (e === null) {
          lost++;
          break;
        }
        if (e.path === pin && e.event === "deleted") {
          samples.push(performance.now() - t0);
          break;
        }
      }
    }
    rows.push({
      what: "unpin -> its event in JS (watchFs, the floor)",
      n: peerPins.length,
      samples,
      missed: lost,
    });
  }

  // 2. An attach rule; then one mkdir at a time.
  await attach(`${CGSTAT}:cgstat`, { ...layout, state });
  await until(() => seen("reloaded") > 0, 5000);
  const made: number[] = [];
  missed = 0;
  let checked = 0;
  for (let i = 0; i < CGROUPS; i++) {
    const dir = `${cgroupRoot}/m${i}`;
    const file = `${mirror}/m${i}/stat`;
    const before = seen("view-made");
    const ms = await timer.time("mkdir", dir, file, false);
    if (ms === null) missed++;
    else made.push(ms);
    if (i < 10 && ms !== null) {
      // Readable, and the right cgroup's view (not timed).
      const first = Deno.readTextFileSync(file).split("\n")[0];
      if (first !== `id=${Deno.statSync(dir).ino}`) {
        throw new Error(`${file} reads ${first}`);
      }
      checked++;
    }
    await until(() => seen("view-made") > before, GIVE_UP_MS);
    await sleep(PAUSE_MS);
  }
  rows.push({
    what: "mkdir -> its view in the mirror (watch)",
    n: CGROUPS,
    samples: made,
    missed,
  });
  rows.push(await mkdirFloor(cgroupRoot, Math.min(CGROUPS, 300), GIVE_UP_MS));

  // 3. A burst of mkdirs, then of rmdirs, in a parent of their own.
  await Deno.mkdir(`${cgroupRoot}/burst`);
  await until(() => !gone(`${mirror}/burst/stat`), 5000);
  const rescansBefore = seen("rescan");
  let madeBefore = seen("view-made");
  const epoch0 = Date.now();
  t = performance.now();
  for (let i = 0; i < BURST; i++) await Deno.mkdir(`${cgroupRoot}/burst/k${i}`);
  const tMkdirs = performance.now() - t;
  const allMade = await until(
    () => seen("view-made") - madeBefore >= BURST,
    60_000,
  );
  let lastMade = actions.findLast((a) => a.action === "view-made")?.time ??
    epoch0;
  // Count the files: the truth, whatever the actions said.
  let files = filesBelow(`${mirror}/burst`, "stat");
  if (files < BURST) {
    await until(
      () => (files = filesBelow(`${mirror}/burst`, "stat")) >= BURST,
      30_000,
    );
    lastMade = Date.now();
  }
  rows.push({
    what: `burst: ${BURST} mkdirs -> mirror true`,
    n: files,
    note: `${(lastMade - epoch0).toFixed(0)} ms (mkdirs ${
      tMkdirs.toFixed(0)
    } ms)${allMade ? "" : ", actions short"}`,
    missed: BURST - files,
  });

  madeBefore = seen("view-removed");
  const epoch1 = Date.now();
  t = performance.now();
  for (let i = 0; i < BURST; i++) {
    await Deno.remove(`${cgroupRoot}/burst/k${i}`);
  }
  const tRmdirs = performance.now() - t;
  await until(() => seen("view-removed") - madeBefore >= BURST, 60_000);
  let lastRemoved = actions.findLast((a) => a.action === "view-removed")
    ?.time ?? epoch1;
  let left = filesBelow(`${mirror}/burst`, "stat");
  if (left > 0) {
    await until(
      () => (left = filesBelow(`${mirror}/burst`, "stat")) === 0,
      30_000,
    );
    lastRemoved = Date.now();
  }
  rows.push({
    what: `burst: ${BURST} rmdirs -> mirror true`,
    n: BURST - left,
    note: `${(lastRemoved - epoch1).toFixed(0)} ms (rmdirs ${
      tRmdirs.toFixed(0)
    } ms)`,
    missed: left,
  });

  await watcher[Symbol.asyncDispose]();
  await consuming;
  printTable(rows);
  console.log(
    `(set-up: ${PINS} views ${tViews.toFixed(0)} ms, ${PINS} exposures ${
      tExpose.toFixed(0)
    } ms, watch() start ${tStart.toFixed(1)} ms; ${checked} views read back; ` +
      `rescans during the bursts: ${seen("rescan") - rescansBefore}; ` +
      `errors reported by the watcher: ${seen("error")})`,
  );
} finally {
  // Whatever is left: exposures, the rule and its views, cgroups, pins.
  try {
    for (const x of exposures({ state })) unexpose(x.path, { state });
  } catch (e) {
    console.error(`clean-up: ${(e as Error).message}`);
  }
  await cleanUp({
    mounted,
    detach: { ...layout, state },
    cgroupRoot,
    bpffs,
    dirs: [exposeDir, mirror, state],
  });
}
