// The watcher's latency for a cgroup program's links: under a --depth 1
// rule of a cgroup_skb egress program, the time from a cgroup's mkdir to
// its link pinned (attached, as the pin comes after the link), with one
// in-process watcher (watch()), beside the raw event in JS (watchFs()), in
// one run. Needs root. Everything lives in a private bpffs, a private
// cgroup subtree and a temporary state directory, removed on exit.
//
//   deno run -A bench/cgroup_watch.ts [COUNT]   (default 300)
import { attach, load, mountBpffs, watch, type WatchAction } from "../mod.ts";
import { cgroup2Mount, ROOT } from "./_common.ts";
import {
  cleanUp,
  mkdirFloor,
  printTable,
  type Row,
  sleep,
  spinner,
  until,
} from "./_timing.ts";

const OBJ = `${ROOT}/build/tests/cgroup_progs.bpf.o`;
const COUNT = Number(Deno.args[0] ?? 300);
const GIVE_UP_MS = 2000;
const PAUSE_MS = 5;

const bpffs = await Deno.makeTempDir({ prefix: "bpfxbench-" });
const state = await Deno.makeTempDir({ prefix: "bpfxbench-s-" });
const cgroupRoot = `${await cgroup2Mount()}/bpfxbench-${Deno.pid}`;
const pinRoot = `${bpffs}/egress`;
const rows: Row[] = [];
const counts = new Map<string, number>();
const seen = (action: string) => counts.get(action) ?? 0;
let mounted = false;
try {
  mountBpffs(bpffs);
  mounted = true;
  await Deno.mkdir(cgroupRoot);
  load(OBJ, { pinDir: `${bpffs}/p` });
  await attach(`${bpffs}/p/egress_count`, {
    cgroupRoot,
    pinRoot,
    name: "egress",
    attachType: "egress",
    depth: 1,
    state,
  });
  await using watcher = watch({ state });
  const consuming = (async () => {
    for await (const a of watcher as AsyncIterable<WatchAction>) {
      counts.set(a.action, seen(a.action) + 1);
    }
  })();
  await until(() => seen("started") > 0, 5000);
  using timer = spinner(GIVE_UP_MS);
  const samples: number[] = [];
  let missed = 0;
  for (let i = 0; i < COUNT; i++) {
    const before = seen("link-made");
    const ms = await timer.time(
      "mkdir",
      `${cgroupRoot}/m${i}`,
      `${pinRoot}/m${i}/egress`,
      false,
    );
    if (ms === null) missed++;
    else samples.push(ms);
    await until(() => seen("link-made") > before, GIVE_UP_MS);
    await sleep(PAUSE_MS);
  }
  rows.push({
    what: "mkdir -> its link attached and pinned (watch)",
    n: COUNT,
    samples,
    missed,
  });
  rows.push(await mkdirFloor(cgroupRoot, COUNT, GIVE_UP_MS));
  await watcher[Symbol.asyncDispose]();
  await consuming;
  printTable(rows);
  console.log(`(errors reported by the watcher: ${seen("error")})`);
} finally {
  await cleanUp({
    mounted,
    detach: { pinRoot, state },
    cgroupRoot,
    bpffs,
    dirs: [state],
  });
}
