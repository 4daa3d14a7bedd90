// Exposures inside containers (issue 11), with real runc busybox containers
// (tests/_containers.ts). Needs root, runc and busybox-static
// (scripts/deps.sh). Everything lives in a private bpffs, a private cgroup
// subtree and temporary directories, removed on exit.
//
//   deno run -A bench/containers.ts
//
// 1. `expose()` with `into`, in process: PER exposures of one task view into
//    one running container, each timed (a thread enters the container's
//    mount namespace, makes the file and moves the mount there, and the
//    manifest is written); then `unexpose()` of each.
// 2. A rule with `intoContainers` and a watcher running: CONTAINERS
//    containers started one after another in cgroups of the rule's subtree.
//    From the first process joining the container's cgroup (its
//    `cgroup.procs` written: an inotify event on the cgroup, the cgroup made
//    beforehand) to the watcher's `exposed-into` action for it, after which
//    its view is readable inside (checked through /proc/PID/root). Beside
//    it, from the same join to `runc run --detach` returning: runc's own
//    set-up of the container, which the view must wait for (bpfx enters
//    only once the container's root is in place).
//
// Counts: BPFX_BENCH_INTO (100), BPFX_BENCH_CONTAINERS (50);
// BPFX_BENCH_QUICK=1 sets them to 20 and 10.
import {
  attach,
  createView,
  detach,
  expose,
  mountBpffs,
  unexpose,
  unmount,
  unpin,
  watch,
  type WatchAction,
} from "../mod.ts";
import { cgroup2Mount, CGSTAT, count, TASKS } from "./_common.ts";
import { runcContainer } from "../tests/_containers.ts";

const PER = count("BPFX_BENCH_INTO", 100, 20);
const CONTAINERS = count("BPFX_BENCH_CONTAINERS", 50, 10);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function row(what: string, xs: number[]): void {
  const f = (ms: number) => `${ms.toFixed(2)} ms`;
  console.log(
    `${what.padEnd(66)} p50 ${f(pct(xs, 50)).padStart(9)}  p99 ${
      f(pct(xs, 99)).padStart(9)
    }  (n=${xs.length})`,
  );
}

const bpffs = await Deno.makeTempDir({ prefix: "bpfxbench-" });
const state = await Deno.makeTempDir({ prefix: "bpfxbench-st-" });
const mirror = await Deno.makeTempDir({ prefix: "bpfxbench-m-" });
const mount = await cgroup2Mount();
const cgRoot = `${mount}/bpfxbench-${Deno.pid}`;
await Deno.mkdir(cgRoot);
const cgroups = { mount, root: cgRoot };
mountBpffs(bpffs);
try {
  // 1. expose({ into }) of one view, PER times, into one container.
  {
    await using c = await runcContainer(cgroups, "one");
    const pin = `${bpffs}/tasks`;
    createView(`${TASKS}:tasks`, { pin });
    const made: number[] = [];
    const gone: number[] = [];
    for (let i = 0; i < PER; i++) {
      const t = performance.now();
      expose(pin, { path: `/run/x${i}`, into: c.pid, state });
      made.push(performance.now() - t);
    }
    for (let i = 0; i < PER; i++) {
      const t = performance.now();
      unexpose(`/run/x${i}`, { into: c.pid, state });
      gone.push(performance.now() - t);
    }
    row("expose({ into }) of a task view into a running container", made);
    row("unexpose({ into }) of it", gone);
    unpin(pin);
  }

  // 2. Containers started under a rule with intoContainers.
  const at = "/run/bpfx/stat";
  await attach(`${CGSTAT}:cgstat`, {
    cgroupRoot: cgRoot,
    pinRoot: `${bpffs}/views`,
    exposeRoot: mirror,
    name: "stat",
    state,
    intoContainers: at,
  });
  const watcher = watch({ state });
  // When the watcher reported each container's exposure, by its PID.
  const exposedAt = new Map<number, number>();
  const actions = (async () => {
    for await (const a of watcher as AsyncIterable<WatchAction>) {
      if (a.action === "error") console.error(`watcher: ${a.why}`);
      if (a.action !== "exposed-into") continue;
      const pid = Number(/process (\d+)/.exec(a.why)?.[1]);
      exposedAt.set(pid, performance.now());
    }
  })();
  const toView: number[] = [];
  const toRunning: number[] = [];
  try {
    for (let i = 0; i < CONTAINERS; i++) {
      const rel = `c${i}`;
      const dir = `${cgRoot}/${rel}`;
      await Deno.mkdir(dir);
      // The first write of cgroup.procs: the container's first process.
      const fsw = Deno.watchFs(dir, { recursive: false });
      const joined = (async () => {
        for await (const e of fsw) {
          if (
            e.kind === "modify" &&
            e.paths.some((p) => p.endsWith("/cgroup.procs"))
          ) {
            return performance.now();
          }
        }
        throw new Error("the watch ended");
      })();
      const c = await runcContainer(cgroups, rel);
      const running = performance.now();
      try {
        const t0 = await joined;
        fsw.close();
        const deadline = performance.now() + 10_000;
        while (!exposedAt.has(c.pid) && performance.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1));
        }
        const t1 = exposedAt.get(c.pid);
        if (t1 === undefined) {
          throw new Error(`no exposed-into for container ${c.id}`);
        }
        const text = await Deno.readTextFile(`/proc/${c.pid}/root${at}`);
        if (!text.includes(`id=${(await Deno.stat(dir)).ino}\n`)) {
          throw new Error(`container ${c.id} reads another view: ${text}`);
        }
        toView.push(t1 - t0);
        toRunning.push(running - t0);
      } finally {
        await c.stop();
      }
    }
  } finally {
    watcher.close();
    await actions.catch(() => {});
  }
  row("container's first process -> its view readable inside", toView);
  row("  beside: the same join -> `runc run --detach` returns", toRunning);
  await detach({ pinRoot: `${bpffs}/views`, exposeRoot: mirror, state });
} finally {
  try {
    unpin(bpffs, { recursive: true });
  } finally {
    unmount(bpffs);
    await Deno.remove(bpffs);
    await Deno.remove(state, { recursive: true });
    await Deno.remove(mirror, { recursive: true });
    const dirs: string[] = [];
    for await (const e of Deno.readDir(cgRoot)) {
      if (e.isDirectory) dirs.push(`${cgRoot}/${e.name}`);
    }
    for (const d of dirs) await Deno.remove(d).catch(() => {});
    await Deno.remove(cgRoot);
  }
}
