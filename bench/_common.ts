// What the Deno benchmarks share: the example objects, their counts (full,
// or small with BPFX_BENCH_QUICK=1) and the cgroup2 mount.

export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
export const TASKS = `${ROOT}/build/examples/tasks.bpf.o`;
export const CGSTAT = `${ROOT}/build/examples/cgstat.bpf.o`;

const quick = Deno.env.get("BPFX_BENCH_QUICK") === "1";

/** The count `name` in the environment, else `full`, or `small` when quick. */
export const count = (name: string, full: number, small: number): number =>
  Number(Deno.env.get(name) ?? (quick ? small : full));

/** The cgroup2 mount point, from /proc/self/mountinfo. */
export async function cgroup2Mount(): Promise<string> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  for (const line of text.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (post?.startsWith("cgroup2 ")) return pre!.split(" ")[4]!;
  }
  throw new Error("no cgroup2 mount");
}
