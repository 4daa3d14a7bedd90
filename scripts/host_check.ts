// The host as `make test` must leave it: scripts/test.sh takes a snapshot
// before the tests (`snapshot FILE`) and compares after (`compare FILE
// [--empty DIR]`). A snapshot holds:
//
// - the host's state directory, /run/bpfx: whether it exists, and each
//   file's name and sha256;
// - every path below /sys/fs/bpf;
// - every directory of the cgroup2 tree (its mount found in
//   /proc/self/mountinfo);
// - the mount table: each mount point with its filesystem type;
// - the ids of the BPF links (`bpftool -j link list`).
//
// The kernel frees a link (and the mounts and cgroups of a test's
// processes) some time after its last holder goes, so `compare` polls, for
// up to SETTLE_SECONDS, until the difference is gone before it calls it a
// leak. With `--empty DIR` it also fails if anything was written in DIR
// (the run's own BPFX_STATE, which no test should use). It exits 1 naming
// each difference, and 0 when there is none.
//
// Usage: deno run -A scripts/host_check.ts snapshot FILE
//        deno run -A scripts/host_check.ts compare FILE [--empty DIR]

const STATE = "/run/bpfx";
const BPFFS = "/sys/fs/bpf";
const SETTLE_SECONDS = 30;

/** What the host holds, as sorted lists of lines, per part. */
type Snapshot = Record<string, string[]>;

function unescape(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, o: string) => String.fromCharCode(parseInt(o, 8)),
  );
}

/** Each mount as `point type`, from /proc/self/mountinfo. */
async function mounts(): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").filter((l) => l !== "").map((l) => {
    const [left, right] = l.split(" - ");
    return `${unescape(left?.split(" ")[4] ?? "?")} ${
      right?.split(" ")[0] ?? "?"
    }`;
  }).sort();
}

/** Every path below `dir` (directories only, if `dirsOnly`), or `[]`. */
async function walk(dir: string, dirsOnly: boolean): Promise<string[]> {
  const out: string[] = [];
  async function go(d: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch (e) {
      // Gone while walking (a cgroup of another's test): not ours to name.
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) {
        out.push(`${p}/`);
        await go(p);
      } else if (!dirsOnly) out.push(p);
    }
  }
  try {
    await Deno.lstat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  await go(dir);
  return out.sort();
}

async function sha256(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** /run/bpfx: `absent`, or `present` and each file with its sha256. */
async function state(): Promise<string[]> {
  try {
    await Deno.lstat(STATE);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return ["absent"];
    throw e;
  }
  const out = ["present"];
  for (const p of await walk(STATE, false)) {
    out.push(p.endsWith("/") ? p : `${p} sha256:${await sha256(p)}`);
  }
  return out;
}

function cgroup2Mount(lines: string[]): string | undefined {
  return lines.find((l) => l.endsWith(" cgroup2"))?.slice(
    0,
    -" cgroup2".length,
  );
}

/** The BPF link ids, from `bpftool -j link list`. */
async function links(): Promise<string[]> {
  const out = await new Deno.Command("bpftool", {
    args: ["-j", "link", "list"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `bpftool -j link list failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const list = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    id: number;
    type?: string;
  }[];
  return list.map((l) => `link ${l.id} ${l.type ?? "?"}`).sort();
}

async function snapshot(): Promise<Snapshot> {
  const m = await mounts();
  const cg = cgroup2Mount(m);
  return {
    [`state directory ${STATE}`]: await state(),
    [`${BPFFS}`]: await walk(BPFFS, false),
    [`cgroup2 tree ${cg ?? "(not mounted)"}`]: cg === undefined
      ? []
      : await walk(cg, true),
    "mounts": m,
    "BPF links": await links(),
  };
}

/**
 * Lines only in one snapshot or the other, counting repeats (mounts stack):
 * `leaks` fail the check; `notes` are cgroups, mounts and links that went
 * during the run, which the tests never remove (they remove only their
 * own) but another session's tests on the same machine do.
 */
function differences(
  before: Snapshot,
  after: Snapshot,
): { leaks: string[]; notes: string[] } {
  const leaks: string[] = [];
  const notes: string[] = [];
  for (const part of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const count = new Map<string, number>();
    for (const l of before[part] ?? []) count.set(l, (count.get(l) ?? 0) + 1);
    for (const l of after[part] ?? []) count.set(l, (count.get(l) ?? 0) - 1);
    const kept = part.startsWith("state directory") || part === BPFFS;
    for (const [line, n] of [...count].sort()) {
      if (n > 0) (kept ? leaks : notes).push(`${part}: gone: ${line}`);
      if (n < 0) leaks.push(`${part}: new: ${line}`);
    }
  }
  return { leaks, notes };
}

async function main(args: string[]): Promise<number> {
  const [verb, file, ...rest] = args;
  if (verb === "snapshot" && file !== undefined && rest.length === 0) {
    await Deno.writeTextFile(file, JSON.stringify(await snapshot()));
    return 0;
  }
  let empty: string | undefined;
  if (rest.length === 2 && rest[0] === "--empty") empty = rest[1];
  if (verb !== "compare" || file === undefined || (rest.length && !empty)) {
    console.error(
      "usage: host_check.ts snapshot FILE | compare FILE [--empty DIR]",
    );
    return 2;
  }
  const before = JSON.parse(await Deno.readTextFile(file)) as Snapshot;
  const deadline = performance.now() + SETTLE_SECONDS * 1000;
  let diff = differences(before, await snapshot());
  while (diff.leaks.length > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    diff = differences(before, await snapshot());
  }
  const found = diff.leaks;
  for (const line of diff.notes) {
    console.log(`host check: note: ${line} (not made by this run)`);
  }
  if (empty !== undefined) {
    for (const p of await walk(empty, false)) {
      found.push(
        `${p}: written in the run's BPFX_STATE: a test used the default state directory`,
      );
    }
  }
  if (found.length === 0) {
    console.log(
      "host check: the state directory, bpffs, cgroups, mounts and links are as before",
    );
    return 0;
  }
  console.log(
    `host check: the run changed the host (still so after ${SETTLE_SECONDS} s; ` +
      "a process other than the tests may also have made it):",
  );
  for (const line of found) console.log(`  ${line}`);
  return 1;
}

Deno.exit(await main(Deno.args));
