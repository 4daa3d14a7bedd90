// Kernel helpers for the privileged tests: the gate that decides whether a
// test may run, a private bpffs per test, cgroups and temporary directories
// of the test's own, the checks that every test leaves nothing behind, and
// small helpers the tests share.
import { assert } from "./_assert.ts";
import {
  type BpfError,
  doctor,
  type DoctorReport,
  isBpfError,
  mountBpffs,
  openHandles,
  unmount,
  unpin,
} from "../mod.ts";
import type { Io } from "../cli/output.ts";
import { run } from "./_run.ts";

export { assert };

// ---------------------------------------------------------------------------
// The gate

/**
 * The doctor checks a privileged test can need (`bpfx doctor` names them).
 * Every privileged test needs {@linkcode BASE_NEEDS} too.
 */
export type Feature =
  | "privileges"
  | "btf"
  | "cgroup2"
  | "iterator task"
  | "iterator task parameters"
  | "iterator cgroup"
  | "iterator cgroup parameters"
  | "iterator bpf_map_elem"
  | "iterator bpf_map_elem parameters"
  | "trampoline fentry"
  | "trampoline fexit"
  | "trampoline fmod_ret"
  | "trampoline lsm"
  | "link types"
  | "link kprobe"
  | "link uprobe"
  | "link kprobe_multi"
  | "link uprobe_multi"
  | "link cgroup"
  | "tracefs"
  | "fanotify bpffs"
  | "fanotify cgroupfs"
  | "mount namespaces";

/** What every privileged test needs. */
export const BASE_NEEDS: readonly Feature[] = ["privileges", "btf"];

/**
 * The witness of each feature a kernel may refuse by policy: a minimal
 * program of that kind (tests/bpf/, built by `make witnesses`), which the
 * gate loads with bpftool, not bpfx, to confirm doctor's finding.
 */
export const WITNESSES: Readonly<Record<string, string>> = {
  "iterator task": "iter_task",
  "iterator cgroup": "iter_cgroup",
  "iterator bpf_map_elem": "iter_bpf_map_elem",
  "trampoline fentry": "fentry",
  "trampoline fexit": "fexit",
  "trampoline fmod_ret": "fmod_ret",
  "trampoline lsm": "lsm",
};

/**
 * The kernel option each "not-configured" check hangs on: the gate reads
 * the kernel's own config (/proc/config.gz, or /boot/config-RELEASE) to
 * confirm that it is not set, as bpftool's witness confirms a policy.
 */
export const CONFIG_WITNESSES: Readonly<Record<string, string>> = {
  "link kprobe": "CONFIG_KPROBES",
  "link uprobe": "CONFIG_UPROBE_EVENTS",
  "link kprobe_multi": "CONFIG_FPROBE",
  "link uprobe_multi": "CONFIG_UPROBES",
};

/** What bpftool did with a feature's witness. */
export interface WitnessResult {
  /** bpftool was refused with EPERM before any instruction was verified. */
  readonly refused: boolean;
  /** What bpftool said, in a few words. */
  readonly detail: string;
}

/** What the gate does with a test. */
export type GateDecision =
  | { readonly action: "run" }
  | { readonly action: "skip"; readonly reason: string }
  | { readonly action: "fail"; readonly reason: string };

/** What {@linkcode gateDecision} decides from. */
export interface GateInputs {
  /** What doctor reported, or why doctor could not run. */
  readonly report: DoctorReport | string;
  /** bpftool's verdict on the witness of a feature, if it was tried. */
  readonly witness: (feature: string) => WitnessResult | undefined;
  /** BPFX_REQUIRE_KERNEL=1: a missing feature fails the test. */
  readonly required: boolean;
  /** A known bug that keeps the test from running (an "other skip"). */
  readonly knownBug?: string | undefined;
  /** Another reason the test cannot run here, found by its file. */
  readonly gap?: string | null | undefined;
}

/**
 * Decides whether a privileged test that needs `needs` (and
 * {@linkcode BASE_NEEDS}) runs:
 *
 * - every needed check ok: run (and any error fails the test);
 * - a needed check failed, doctor marks it a kernel policy refusal
 *   (`refused: "eperm-before-verification"`) and bpftool is refused the
 *   witness too: skip with that reason, even when `required`;
 * - anything else not ok (a missing feature, a refusal bpftool does not
 *   confirm, a known bug, a gap): fail when `required`, else skip, with the
 *   reason.
 */
export function gateDecision(
  needs: readonly string[],
  inputs: GateInputs,
): GateDecision {
  const other: string[] = [];
  const policy: string[] = [];
  if (inputs.knownBug !== undefined) {
    other.push(`a known bug: ${inputs.knownBug}`);
  }
  if (inputs.gap !== undefined && inputs.gap !== null) other.push(inputs.gap);
  const report = inputs.report;
  if (typeof report === "string") {
    other.push(`bpfx doctor failed: ${report}`);
  } else {
    const find = (name: string) => report.checks.find((c) => c.name === name);
    for (const need of new Set([...BASE_NEEDS, ...needs])) {
      let check = find(need);
      // Doctor makes no "... parameters" check when the program does not
      // load: the program's check says why.
      const base = need.endsWith(" parameters")
        ? find(need.slice(0, -" parameters".length))
        : undefined;
      if (check === undefined && base !== undefined && !base.ok) check = base;
      if (check === undefined) {
        other.push(`bpfx doctor has no check "${need}"`);
        continue;
      }
      if (check.ok) continue;
      if (check.refused === "not-configured") {
        const w = inputs.witness(check.name);
        if (w?.refused === true) {
          policy.push(`"${check.name}": ${check.detail}; ${w.detail}`);
        } else {
          other.push(
            `bpfx doctor says the kernel is built without "${check.name}" (${check.detail}), ` +
              `but its config does not confirm it: ${
                w?.detail ?? "the config was not read"
              }`,
          );
        }
        continue;
      }
      if (check.refused === "eperm-before-verification") {
        const w = inputs.witness(check.name);
        if (w?.refused === true) {
          policy.push(`"${check.name}": ${check.detail}; ${w.detail}`);
        } else {
          other.push(
            `bpfx doctor says the kernel refuses "${check.name}" (${check.detail}), ` +
              `but bpftool does not confirm it: ${
                w?.detail ?? "its witness was not tried"
              }`,
          );
        }
        continue;
      }
      other.push(`the kernel lacks "${check.name}": ${check.detail}`);
    }
  }
  if (other.length > 0) {
    const reason = [...new Set([...other, ...policy])].join("; ");
    return { action: inputs.required ? "fail" : "skip", reason };
  }
  if (policy.length > 0) {
    return { action: "skip", reason: [...new Set(policy)].join("; ") };
  }
  return { action: "run" };
}

/**
 * Loads the witness `obj` with `bpftool prog load OBJ PIN` into the bpffs
 * at `dir`, and says whether bpftool was refused the way doctor says the
 * kernel refuses bpfx: EPERM, with no instruction verified.
 */
export async function runWitness(
  obj: string,
  dir: string,
): Promise<WitnessResult> {
  try {
    await Deno.stat(obj);
  } catch {
    return {
      refused: false,
      detail: `the witness "${obj}" is not built (run \`make witnesses\`)`,
    };
  }
  const pin = `${dir}/witness`;
  const r = await run("bpftool", ["prog", "load", obj, pin]);
  await Deno.remove(pin).catch(() => {});
  if (r.code === 0) return { refused: false, detail: "bpftool loads it" };
  const failed = r.stderr.split("\n").find((l) =>
    l.includes("BPF program load failed")
  );
  const eperm = failed?.includes("Operation not permitted") === true;
  const verified = /processed [1-9][0-9]* insns/.test(r.stderr);
  if (eperm && !verified) {
    return {
      refused: true,
      detail: `bpftool is refused too (${failed!.replace(/^libbpf: /, "")})`,
    };
  }
  return {
    refused: false,
    detail: `bpftool fails otherwise: ${
      (failed ?? r.stderr.trim().split("\n")[0] ?? "").replace(/^libbpf: /, "")
    } (exit ${r.code})`,
  };
}

/**
 * Reads the running kernel's config (/proc/config.gz, else
 * /boot/config-RELEASE) and says whether `option` is not set in it.
 */
export async function configWitness(
  option: string | undefined,
): Promise<WitnessResult> {
  if (option === undefined) {
    return { refused: false, detail: "no kernel option is known for it" };
  }
  let text: string | undefined;
  try {
    const gz = await Deno.readFile("/proc/config.gz");
    const stream = new Blob([gz]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    text = await new Response(stream).text();
  } catch {
    const release = (await Deno.readTextFile("/proc/sys/kernel/osrelease")
      .catch(() => "")).trim();
    text = await Deno.readTextFile(`/boot/config-${release}`).catch(() =>
      undefined
    );
  }
  if (text === undefined) {
    return { refused: false, detail: "the kernel's config is not readable" };
  }
  const lines = text.split("\n");
  if (lines.includes(`# ${option} is not set`)) {
    return {
      refused: true,
      detail: `the kernel's config says "# ${option} is not set"`,
    };
  }
  const set = lines.find((l) => l.startsWith(`${option}=`));
  return {
    refused: false,
    detail: set === undefined
      ? `the kernel's config does not name ${option}`
      : `the kernel's config has ${set}`,
  };
}

/** Witness programs: build/tests/<name>.bpf.o. */
const WITNESS_DIR = new URL("../build/tests/", import.meta.url).pathname;

/**
 * Runs doctor, then the witness of each check doctor says the kernel
 * refuses, once per process, in a private bpffs the gate mounts (with the
 * system's `mount`, not bpfx) and removes after.
 */
async function probeKernel(): Promise<{
  report: DoctorReport | string;
  witnesses: Map<string, WitnessResult>;
}> {
  const witnesses = new Map<string, WitnessResult>();
  // Without root, doctor's "privileges" check says so (and the mount fails).
  const dir = await Deno.makeTempDir({ prefix: "bpfxgate-" });
  let mounted = false;
  try {
    const m = await run("mount", ["-t", "bpf", "bpf", dir]).catch((e) => ({
      code: -1,
      stdout: "",
      stderr: String(e),
    }));
    mounted = m.code === 0;
    let report: DoctorReport | string;
    try {
      report = doctor();
    } catch (e) {
      return { report: (e as Error).message, witnesses };
    }
    for (const c of report.checks) {
      if (c.ok || c.refused === null) continue;
      if (c.refused === "not-configured") {
        witnesses.set(c.name, await configWitness(CONFIG_WITNESSES[c.name]));
        continue;
      }
      const name = WITNESSES[c.name];
      witnesses.set(
        c.name,
        name === undefined
          ? { refused: false, detail: `no witness program for "${c.name}"` }
          : !mounted
          ? {
            refused: false,
            detail: `cannot mount a bpffs: ${m.stderr.trim()}`,
          }
          : await runWitness(`${WITNESS_DIR}${name}.bpf.o`, dir),
      );
    }
    return { report, witnesses };
  } finally {
    if (mounted) await run("umount", [dir]);
    await Deno.remove(dir);
  }
}

/**
 * What `BPFX_STATE` is set to for the tests when it is unset: a path under
 * /proc, where nothing can be made, so that a test which forgets `--state`
 * or `state:` fails ("check --state (or $BPFX_STATE)") instead of writing
 * into the host's /run/bpfx. scripts/test.sh sets it to an empty directory
 * of its own instead, and fails the run if anything was written there.
 */
export const NO_DEFAULT_STATE = "/proc/bpfx-tests-pass-their-own-state";
if ((Deno.env.get("BPFX_STATE") ?? "") === "") {
  Deno.env.set("BPFX_STATE", NO_DEFAULT_STATE);
}

const kernel = await probeKernel();
const required = Deno.env.get("BPFX_REQUIRE_KERNEL") === "1";

/** The prefix of the line the gate prints for each test it skips. */
export const SKIP_PREFIX = "bpfx-skip: ";

/** Options for {@linkcode kernelTest}. */
export interface KernelTestOptions {
  /**
   * The doctor checks the test needs beyond {@linkcode BASE_NEEDS}: the
   * iterators, trampolines, fanotify marks and cgroup2 it uses.
   */
  needs: readonly Feature[];
  /**
   * Why the test is not run yet (a known bug, named where it is): skipped
   * with the reason, or failed under BPFX_REQUIRE_KERNEL=1.
   */
  knownBug?: string;
  /** Another reason the test cannot run here, or null when there is none. */
  gap?: string | null;
}

/**
 * Registers a privileged test, which runs, is skipped or fails as
 * {@linkcode gateDecision} decides from this kernel's doctor report and the
 * witnesses. A skip prints one line, `bpfx-skip: "<name>": <reason>`. After
 * the test, the core must hold no open handle.
 */
export function kernelTest(
  name: string,
  fn: () => Promise<void> | void,
  options: KernelTestOptions,
): void {
  const decision = gateDecision(options.needs, {
    report: kernel.report,
    witness: (f) => kernel.witnesses.get(f),
    required,
    knownBug: options.knownBug,
    gap: options.gap,
  });
  switch (decision.action) {
    case "skip":
      console.warn(`${SKIP_PREFIX}${JSON.stringify(name)}: ${decision.reason}`);
      Deno.test({ name, ignore: true, fn });
      return;
    case "fail":
      Deno.test(name, () => {
        throw new Error(`BPFX_REQUIRE_KERNEL=1 but ${decision.reason}`);
      });
      return;
    case "run":
      Deno.test(name, async () => {
        const before = openHandles();
        await fn();
        assert.equal(openHandles(), before, "the test left core handles open");
      });
  }
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

export { run } from "./_run.ts";

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

/** The error `fn` throws, which must be a bpfx error. */
export function caught(fn: () => unknown): BpfError {
  try {
    fn();
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
 * A state directory of the test's own (`--state`, `state:`), removed when
 * disposed. No test may use the default (`BPFX_STATE`, else `/run/bpfx`):
 * see {@linkcode NO_DEFAULT_STATE}.
 */
export async function privateState(): Promise<
  AsyncDisposable & { path: string }
> {
  return await tempDir("bpfxstate-");
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

/** Whether anything is at `path` (not following a symlink). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** The mount points in this namespace, from /proc/self/mountinfo, unescaped. */
export async function mountpoints(): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").filter((l) => l !== "").map((l) =>
    (l.split(" ")[4] ?? "").replace(
      /\\([0-7]{3})/g,
      (_, o: string) => String.fromCharCode(parseInt(o, 8)),
    )
  );
}

/** What an async iterable gives, collected in the background. */
export interface Collected<T> {
  readonly items: T[];
  /** What the iteration threw, once it has. */
  readonly error: () => unknown;
  /** Resolves when the iteration ends; rejects with what it threw. */
  readonly done: Promise<void>;
}

/** Collects what `source` gives, in the background. */
export function collect<T>(source: AsyncIterable<T>): Collected<T> {
  const items: T[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const item of source) items.push(item);
    } catch (e) {
      error = e;
      throw e;
    }
  })();
  done.catch(() => {}); // awaited by the test; reported by error() meanwhile
  return { items, error: () => error, done };
}
