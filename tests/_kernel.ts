// Kernel helpers for the privileged tests: the gate that decides whether a
// test may run, a private bpffs per test, cgroups and temporary directories
// of the test's own, the checks that every test leaves nothing behind, and
// small helpers the tests share.
import { assert } from "./_assert.ts";
import {
  type BpfError,
  doctor,
  isBpfError,
  mountBpffs,
  openHandles,
  unmount,
  unpin,
} from "../mod.ts";
import type { Io } from "../cli/output.ts";

export { assert };

/** Why the kernel cannot run the privileged tests, or null when it can. */
function kernelGap(): string | null {
  if (Deno.uid() !== 0) return "not running as root";
  let report;
  try {
    report = doctor();
  } catch (e) {
    return `bpfx doctor failed: ${(e as Error).message}`;
  }
  const need = ["privileges", "btf", "iterator task"];
  for (const name of need) {
    const c = report.checks.find((c) => c.name === name);
    if (!c?.ok) {
      return `the kernel lacks "${name}": ${c?.detail ?? "not probed"}`;
    }
  }
  return null;
}

const gap = kernelGap();
const required = Deno.env.get("BPFX_REQUIRE_KERNEL") === "1";

/** Options for {@linkcode kernelTest}. */
export interface KernelTestOptions {
  /**
   * Why the test is not run yet (a known bug, named where it is): it is
   * registered as ignored and the reason printed.
   */
  knownBug?: string;
}

/**
 * Registers a privileged test. Where the kernel lacks what it needs, the
 * test is skipped with the reason printed, unless BPFX_REQUIRE_KERNEL=1, in
 * which case it fails. After the test, the core must hold no open handle.
 */
export function kernelTest(
  name: string,
  fn: () => Promise<void> | void,
  options: KernelTestOptions = {},
): void {
  if (options.knownBug !== undefined) {
    console.warn(`ignoring "${name}": ${options.knownBug}`);
    Deno.test({ name, ignore: true, fn });
    return;
  }
  if (gap !== null && !required) {
    console.warn(`skipping "${name}": ${gap}`);
    Deno.test({ name, ignore: true, fn: () => {} });
    return;
  }
  Deno.test(name, async () => {
    if (gap !== null) {
      throw new Error(`BPFX_REQUIRE_KERNEL=1 but ${gap}`);
    }
    const before = openHandles();
    await fn();
    assert.equal(openHandles(), before, "the test left core handles open");
  });
}

/** A private bpffs mounted on a dot-free temporary directory. */
export interface PrivateBpffs extends AsyncDisposable {
  readonly path: string;
}

/** Mounts a private bpffs; disposing it empties it, unmounts and removes it. */
export async function privateBpffs(): Promise<PrivateBpffs> {
  // bpffs refuses '.' in names it creates; the mount point itself is on
  // another filesystem, but keep it dot-free so paths below are too.
  const path = await Deno.makeTempDir({ prefix: "bpfxtest-" });
  if (path.includes(".")) throw new Error(`temp dir "${path}" has a dot`);
  mountBpffs(path);
  return {
    path,
    async [Symbol.asyncDispose]() {
      try {
        unpin(path, { recursive: true });
      } finally {
        try {
          unmount(path);
        } finally {
          await Deno.remove(path);
        }
      }
    },
  };
}

/** Runs a command, returning its exit code, stdout and stderr as text. */
export async function run(
  cmd: string,
  args: string[],
  options: Deno.CommandOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...options,
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Runs bpftool and expects success. */
export async function bpftool(args: string[]): Promise<void> {
  const r = await run("bpftool", args);
  assert.equal(r.code, 0, `bpftool ${args.join(" ")}: ${r.stderr}`);
}

/** Runs `bpftool -j ARGS` and parses its output. */
export async function bpftoolJson<T = Record<string, unknown>>(
  args: string[],
): Promise<T> {
  const r = await run("bpftool", ["-j", ...args]);
  assert.equal(r.code, 0, `bpftool ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * Makes a map pinned at `pin` with `bpftool map create`; `spec` is the rest
 * of its words, such as `"type hash key 4 value 8 entries 64 name plain"`.
 */
export async function bpftoolMap(pin: string, spec: string): Promise<void> {
  await bpftool(["map", "create", pin, ...spec.split(" ")]);
}

/** The repository root. */
export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The example object built by `make`. */
export const HELLO = `${ROOT}/build/examples/hello.bpf.o`;
/** Real third-party objects from Debian's xdp-tools. */
export const XDP_DIR = "/usr/lib/x86_64-linux-gnu/bpf";
/** The launcher. */
export const BPFX = `${ROOT}/bpfx`;

// ---------------------------------------------------------------------------
// Shared helpers

/** The error `fn` rejects with, which must be a bpfx error. */
export async function rejected(fn: () => unknown): Promise<BpfError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(isBpfError(e), `expected a bpfx error, got ${e}`);
    return e as BpfError;
  }
  assert.fail("expected an error");
}

/** Every path below `dir` (files, links and directories), sorted. */
export async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string) {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      out.push(p);
      if (e.isDirectory) await walk(p);
    }
  }
  await walk(dir);
  return out.sort();
}

/** The cgroup2 mount point, from /proc/self/mountinfo. */
export async function cgroup2Mount(): Promise<string> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  for (const line of text.split("\n")) {
    const [left, right] = line.split(" - ");
    if (right?.split(" ")[0] !== "cgroup2") continue;
    const point = left?.split(" ")[4];
    if (point === undefined) continue;
    return point.replace(
      /\\([0-7]{3})/g,
      (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
    );
  }
  throw new Error("no cgroup2 filesystem is mounted");
}

/** A cgroup subtree of the test's own, removed when disposed. */
export interface TestCgroups extends AsyncDisposable {
  /** The cgroup2 mount point. */
  readonly mount: string;
  /** The subtree's root directory. */
  readonly root: string;
  /** Makes `rel` (and its parents) below the root; returns its directory. */
  make(rel: string): Promise<string>;
  /** Removes the leaf cgroup `rel`, killing what runs in it. */
  remove(rel: string): Promise<void>;
  /** Moves process `pid` into `rel`. */
  enter(rel: string, pid: number): Promise<void>;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Kills the processes in cgroup `dir` and removes it (a leaf). */
export async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0;; attempt++) {
    const procs = (await Deno.readTextFile(`${dir}/cgroup.procs`)).split("\n")
      .filter((p) => p !== "");
    for (const pid of procs) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* already gone */ }
    }
    try {
      await Deno.remove(dir); // rmdir: cgroupfs removes its own files
      return;
    } catch (e) {
      if (!(e instanceof Deno.errors.Busy) || attempt >= 100) throw e;
      await sleep(20); // the killed processes are still being reaped
    }
  }
}

/** Makes a cgroup with a unique name under the cgroup2 mount. */
export async function privateCgroups(): Promise<TestCgroups> {
  const mount = await cgroup2Mount();
  const root = `${mount}/bpfxtest-${Deno.pid}-${
    crypto.randomUUID().slice(0, 8)
  }`;
  await Deno.mkdir(root);
  return {
    mount,
    root,
    async make(rel) {
      const dir = `${root}/${rel}`;
      await Deno.mkdir(dir, { recursive: true });
      return dir;
    },
    async remove(rel) {
      await removeCgroup(`${root}/${rel}`);
    },
    async enter(rel, pid) {
      await Deno.writeTextFile(`${root}/${rel}/cgroup.procs`, `${pid}\n`);
    },
    async [Symbol.asyncDispose]() {
      // Children before parents.
      const dirs: string[] = [];
      async function walk(d: string) {
        for await (const e of Deno.readDir(d)) {
          if (e.isDirectory) await walk(`${d}/${e.name}`);
        }
        dirs.push(d);
      }
      await walk(root);
      for (const d of dirs) await removeCgroup(d);
    },
  };
}

/** A child process, killed when disposed. */
export function child(
  cmd: string,
  args: string[],
): AsyncDisposable & { pid: number } {
  const process = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    pid: process.pid,
    async [Symbol.asyncDispose]() {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await process.status;
    },
  };
}

/** A temporary directory (off bpffs), removed when disposed. */
export async function tempDir(
  prefix: string,
): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true });
    },
  };
}

/**
 * Retries `check` every 20 ms until it returns true (the kernel frees links
 * lazily; the watcher works on its own time), for up to `seconds`.
 */
export async function eventually(
  what: string | (() => string),
  check: () => Promise<boolean> | boolean,
  seconds = 2,
): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) break;
    await sleep(20);
  }
  const said = typeof what === "string" ? what : what();
  assert.fail(`still not true after ${seconds} s: ${said}`);
}

/** An Io that keeps what the CLI writes. */
export function captureIo(
  options: { bytes?: boolean; errIsTerminal?: boolean } = {},
): Io & {
  stdout(): Uint8Array;
  stderr(): string;
  writes: number;
} {
  const encoder = new TextEncoder();
  const out: Uint8Array[] = [];
  let err = "";
  const io = {
    writes: 0,
    out(text: string) {
      out.push(encoder.encode(text));
    },
    err(text: string) {
      err += text;
    },
    isTerminal: false,
    errIsTerminal: options.errIsTerminal ?? false,
    columns: undefined,
    stdout() {
      const all = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of out) {
        all.set(c, at);
        at += c.length;
      }
      return all;
    },
    stderr() {
      return err;
    },
  };
  if (options.bytes !== false) {
    return Object.assign(io, {
      write(bytes: Uint8Array) {
        io.writes++;
        out.push(bytes.slice());
      },
    });
  }
  return io;
}

/** The ids (inode numbers) of cgroup directories. */
export async function inode(dir: string): Promise<number> {
  const st = await Deno.stat(dir);
  assert.ok(st.ino !== null, `no inode for ${dir}`);
  return st.ino;
}
