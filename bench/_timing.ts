// Timing helpers of the watcher benchmarks (bench/watch.ts,
// bench/cgroup_watch.ts): a worker that makes a change and spins until a
// path is gone or there, waits that yield to the event loop, quantiles and
// the table they print, the next value of an iterator within a time, the
// floor of a mkdir latency (its raw event in JS), and their clean-up.

import { detach, type DetachOptions, unmount, unpin, watchFs } from "../mod.ts";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function gone(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return false;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return true;
    throw e;
  }
}

/**
 * The timed loop runs in a worker: it makes the change, then spins on lstat
 * until the path it waits for is gone (or there). The main thread stays
 * free to drive the watcher, whose waits need the event loop between two
 * calls into the core; spinning there would stall it.
 */
const spinnerSource = (giveUpMs: number) => `
const GIVE_UP_MS = ${giveUpMs};
function gone(path) {
  try { Deno.lstatSync(path); return false; }
  catch (e) { if (e instanceof Deno.errors.NotFound) return true; throw e; }
}
self.onmessage = ({ data }) => {
  const t0 = performance.now();
  if (data.op === "unlink") Deno.removeSync(data.path);
  else Deno.mkdirSync(data.path);
  for (;;) {
    if (gone(data.wait) === data.untilGone) {
      self.postMessage(performance.now() - t0);
      return;
    }
    if (performance.now() - t0 > GIVE_UP_MS) {
      self.postMessage(null);
      return;
    }
  }
};
`;

export interface Spinner extends Disposable {
  /** Makes the change and returns the ms until `wait` is gone (or there). */
  time(
    op: "unlink" | "mkdir",
    path: string,
    wait: string,
    untilGone: boolean,
  ): Promise<number | null>;
}

export function spinner(giveUpMs: number): Spinner {
  const url = URL.createObjectURL(
    new Blob([spinnerSource(giveUpMs)], { type: "application/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  return {
    time(op, path, wait, untilGone) {
      return new Promise((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data as number | null);
        worker.onerror = (e) => reject(new Error(e.message));
        worker.postMessage({ op, path, wait, untilGone });
      });
    },
    [Symbol.dispose]() {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

/** The iterator's next value, or null when none comes within `ms`. */
export async function nextWithin<T>(
  it: AsyncIterator<T>,
  ms: number,
): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((
    r,
  ) => (timer = setTimeout(() => r(null), ms)));
  try {
    const r = await Promise.race([it.next(), late]);
    return r === null || r.done ? null : r.value;
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (yielding to the event loop) until `check()`, or `ms` pass. */
export async function until(
  check: () => boolean,
  ms: number,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(0);
  }
  return true;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface Row {
  what: string;
  n: number;
  samples?: number[];
  note?: string;
  missed: number;
}

export function printTable(rows: readonly Row[]): void {
  const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(3)).padStart(9);
  console.log(
    `${"what".padEnd(46)} ${"n".padStart(6)} ${"p50 ms".padStart(9)} ${
      "p99 ms".padStart(9)
    } ${"max ms".padStart(9)} ${"missed".padStart(6)}`,
  );
  for (const r of rows) {
    const s = [...(r.samples ?? [])].sort((a, b) => a - b);
    const stats = r.samples === undefined
      ? (r.note ?? "").padStart(29)
      : `${f(quantile(s, 0.5))} ${f(quantile(s, 0.99))} ${f(s.at(-1) ?? NaN)}`;
    console.log(
      `${r.what.padEnd(46)} ${String(r.n).padStart(6)} ${stats} ${
        String(r.missed).padStart(6)
      }`,
    );
  }
}

/** Removes a cgroup subtree, children first. */
export async function removeCgroups(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) await removeCgroups(`${dir}/${e.name}`);
  }
  await Deno.remove(dir);
}

/**
 * The floor of a "mkdir -> ..." latency: `count` mkdirs below `cgroupRoot`
 * (named `r0`, `r1`, ...), each timed to its raw event in JS (watchFs).
 */
export async function mkdirFloor(
  cgroupRoot: string,
  count: number,
  giveUpMs: number,
): Promise<Row> {
  await using raw = watchFs([cgroupRoot], { filesystem: true });
  const it = raw[Symbol.asyncIterator]();
  const samples: number[] = [];
  let lost = 0;
  for (let i = 0; i < count; i++) {
    const dir = `${cgroupRoot}/r${i}`;
    const t0 = performance.now();
    Deno.mkdirSync(dir);
    for (;;) {
      const e = await nextWithin(it, giveUpMs);
      if (e === null) {
        lost++;
        break;
      }
      if (e.path === dir && e.event === "created") {
        samples.push(performance.now() - t0);
        break;
      }
    }
  }
  return {
    what: "mkdir -> its event in JS (watchFs, the floor)",
    n: samples.length + lost,
    samples,
    missed: lost,
  };
}

/**
 * What a watcher benchmark leaves, removed even when it failed midway: the
 * rule's views or links (`detach`, when the bpffs was mounted), the cgroup
 * subtree, the private bpffs and the directories. Each failure is said and
 * passed over, so the rest still goes.
 */
export async function cleanUp(o: {
  mounted: boolean;
  detach: DetachOptions;
  cgroupRoot: string;
  bpffs: string;
  dirs: readonly string[];
}): Promise<void> {
  const say = (e: Error) => console.error(`clean-up: ${e.message}`);
  if (o.mounted) await detach(o.detach).catch(say);
  await removeCgroups(o.cgroupRoot).catch(say);
  if (o.mounted) {
    unpin(o.bpffs, { recursive: true });
    unmount(o.bpffs);
  }
  for (const dir of [o.bpffs, ...o.dirs]) {
    await Deno.remove(dir, { recursive: true }).catch(say);
  }
}
