/**
 * A view per cgroup: {@linkcode attach} keeps one cgroup view (or one link
 * of a cgroup program) per cgroup of a subtree, pinned under a pin root and
 * exposed as symlinks in a mirror of the cgroup tree; {@linkcode detach}
 * removes them. Both run on Deno's blocking thread pool, one after the
 * other, and report their progress.
 *
 * @module
 */

import { callNonblocking } from "./_call.ts";
import { core } from "./ffi.ts";
import type { CgroupAttachType } from "./types.ts";

/** One cgroup's view, as {@linkcode attach} and {@linkcode detach} report it. */
export interface AttachItem {
  /**
   * The cgroup's path relative to the cgroup root (`""` for the root); a
   * byte that is not UTF-8 is a lone surrogate `\udcXX` (`nameBytes()`
   * gives the bytes, `nameText()` a printable form).
   */
  readonly cgroup: string;
  /** The cgroup's id: the inode number of its directory. */
  readonly cgroupId: number;
  /** The view's or link's pin, under the pin root. */
  readonly pin: string;
  /** The symlink to the pin, under the expose root (`""` without one). */
  readonly expose: string;
  /** A cgroup program's link: its id. */
  readonly linkId?: number;
}

/** A cgroup {@linkcode attach} left alone, and why. */
export interface AttachSkipped {
  /**
   * The cgroup's path relative to the cgroup root; a byte that is not UTF-8
   * is a lone surrogate `\udcXX` (`nameBytes()` gives the bytes).
   */
  readonly cgroup: string;
  /** Why it was skipped. */
  readonly why: string;
}

/** What {@linkcode attach} did. */
export interface AttachReport {
  /** How many cgroups the subtree has (its root included). */
  readonly cgroups: number;
  /** The views made. */
  readonly made: readonly AttachItem[];
  /** The views that were already there and right. */
  readonly kept: readonly AttachItem[];
  /**
   * The links of this cgroup that held another program (the object loaded
   * anew), moved onto this one in one step (`BPF_LINK_UPDATE`): the hook
   * was never empty. Absent when none were.
   */
  readonly moved?: readonly AttachItem[];
  /** The views removed: of cgroups that are gone, or made again. */
  readonly removed: readonly AttachItem[];
  /** The cgroups left without a view. */
  readonly skipped: readonly AttachSkipped[];
  /**
   * With `intoContainers`: the views exposed inside the containers their
   * cgroups hold (left out when none).
   */
  readonly into?: readonly AttachPlaced[];
  /**
   * With `waitForRoot`, when the cgroup root does not exist yet: why
   * nothing was made (the rule is recorded, and the watcher fills it when
   * the root appears). Left out otherwise.
   */
  readonly waiting?: string;
}

/** A view {@linkcode attach} exposed inside a container. */
export interface AttachPlaced {
  /** The cgroup, relative to the subtree's root. */
  readonly cgroup: string;
  /** The container's process entered (its PID on the host). */
  readonly pid: number;
  /** The view's pin. */
  readonly pin: string;
  /** Where it is inside the container. */
  readonly path: string;
}

/** What {@linkcode detach} removed. */
export interface DetachReport {
  /** The views removed, with their symlinks. */
  readonly removed: readonly AttachItem[];
}

/**
 * Called about every 100 ms while {@linkcode attach} or {@linkcode detach}
 * runs, when the progress changed, and once at the end with `done` equal to
 * `total`. An exception it throws is rethrown once the operation ends.
 */
export type ProgressCallback = (done: number, total: number) => void;

/** Options for {@linkcode attach}. */
export interface AttachOptions {
  /**
   * The root of the subtree: a cgroup path, absolute or relative to the
   * cgroup2 mount (not an id).
   */
  cgroupRoot: string;
  /** Where the views or links are pinned, on bpffs; made if missing. */
  pinRoot: string;
  /**
   * Where the mirror of the cgroup tree goes; any filesystem but bpffs and
   * cgroupfs. Needed for views; optional for a cgroup program's links.
   */
  exposeRoot?: string;
  /** The file name of each view or link, in both trees; no `/` or `.`. */
  name: string;
  /**
   * A cgroup program's attach type, when its section does not name one or
   * names another (a pinned program does not say it); checked against the
   * program's type.
   */
  attachType?: CgroupAttachType;
  /**
   * Only the cgroups exactly this many levels below the root (0: the root,
   * 1: each child). Refused when the tree is not that deep.
   */
  depth?: number;
  /** Only the cgroups whose name matches this glob (`*`, `?`). */
  match?: string;
  /** Where maps pinned by name go when `prog` is `OBJ:NAME`. */
  pinByNameRoot?: string;
  /**
   * A state directory to record the attach in, as a rule that the watcher
   * (`watch()`) keeps true as cgroups come and go; a program given as
   * `OBJ:NAME` is then pinned at `<pinRoot>/%prog-<name>` for it. Nothing
   * is recorded when left out (`BPFX_STATE` is not read here).
   */
  state?: string;
  /**
   * Also expose each cgroup's view at this path inside the container the
   * cgroup holds (its processes are in a mount namespace other than the
   * host's), as `expose()` with `into` does; needs `state`. The watcher
   * follows the containers: one started later gets its view once its first
   * process joins the cgroup, its exposure is forgotten when it exits, and
   * `detach()` removes them all.
   */
  intoContainers?: string;
  /**
   * With `state`: a cgroup root that does not exist yet is not refused.
   * The rule is recorded, nothing is made, the report says why
   * (`waiting`), and the watcher fills the rule when the root appears.
   */
  waitForRoot?: boolean;
  /** Progress, as views are made. */
  onProgress?: ProgressCallback;
}

/** Options for {@linkcode detach}. */
export interface DetachOptions {
  /** The pin root given to {@linkcode attach}. */
  pinRoot: string;
  /** The expose root given to {@linkcode attach}, if one was. */
  exposeRoot?: string;
  /** Remove only the views or links of this name; all when left out. */
  name?: string;
  /**
   * A state directory whose matching attach rules (same pin root, and
   * `name` if given) are forgotten, with the program pinned for them.
   * Nothing is forgotten when left out (`BPFX_STATE` is not read here).
   */
  state?: string;
  /** Progress, as views are removed. */
  onProgress?: ProgressCallback;
}

const POLL_MS = 100;

/** The bulk operation under way: they run one at a time in this process. */
let bulk: Promise<unknown> = Promise.resolve();

/**
 * Runs the bulk operation `op` on Deno's blocking thread pool, after the
 * ones already started, polling `bpfx_progress` for `onProgress`.
 */
function runBulk<T>(
  op: string,
  params: Record<string, unknown>,
  onProgress: ProgressCallback | undefined,
  total: (reply: T) => number,
): Promise<T> {
  const run = () => withProgress(op, params, onProgress, total);
  const result = bulk.then(run, run);
  bulk = result.catch(() => {});
  return result;
}

async function withProgress<T>(
  op: string,
  params: Record<string, unknown>,
  onProgress: ProgressCallback | undefined,
  total: (reply: T) => number,
): Promise<T> {
  if (onProgress === undefined) return await callNonblocking<T>(op, params);
  const lib = core();
  const progress = new BigUint64Array(2);
  // The core keeps the last operation's progress until the new one writes
  // its own: ignore that value until it changes.
  lib.bpfx_progress(progress);
  const stale = `${progress[0]}/${progress[1]}`;
  let fresh = false;
  let last = "";
  let thrown: { error: unknown } | undefined;
  const report = (done: number, all: number) => {
    const key = `${done}/${all}`;
    if (thrown !== undefined || key === last) return;
    last = key;
    try {
      onProgress(done, all);
    } catch (error) {
      thrown = { error };
    }
  };
  const poll = () => {
    lib.bpfx_progress(progress);
    const key = `${progress[0]}/${progress[1]}`;
    if (!fresh && key === stale) return;
    fresh = true;
    const all = Number(progress[1] ?? 0n);
    if (all > 0) report(Math.min(Number(progress[0] ?? 0n), all), all);
  };
  const timer = setInterval(poll, POLL_MS);
  let reply: T;
  try {
    reply = await callNonblocking<T>(op, params);
  } finally {
    clearInterval(timer);
  }
  const all = total(reply);
  report(all, all);
  if (thrown !== undefined) throw thrown.error;
  return reply;
}

/**
 * Gives every selected cgroup of the subtree at `options.cgroupRoot` a view
 * of a cgroup iterator, or a link of a cgroup program.
 *
 * A cgroup program (cgroup_skb, cgroup_sock, cgroup_sock_addr, sock_ops,
 * cgroup_device, cgroup_sysctl, cgroup_sockopt; see
 * {@linkcode CgroupAttachType}) gets one BPF link per selected cgroup
 * (`BPF_LINK_CREATE` on the cgroup, opened by handle), pinned at
 * `<pinRoot>/<cgroup path>/<name>`, and symlinked under `exposeRoot` when
 * one is given. Its attach type is the one its section names, or
 * `options.attachType`. A program on a cgroup also runs for the cgroups
 * below, so with neither `depth` nor `match` only the root gets a link;
 * `depth: 1` gives each child its own. A second attach keeps the links
 * that are right (same cgroup, same program) and replaces the others; a
 * failure on one cgroup is reported in `skipped` and the rest is done.
 *
 * A cgroup iterator program (a pinned program or `OBJ:NAME`) gets a view
 * per selected cgroup (every cgroup by default), with
 * order `self`: pinned at `<pinRoot>/<cgroup path>/<name>` (each `.` in a
 * directory name written `%2E`, each `%` as `%25`, as bpffs refuses dots)
 * and exposed as a symlink `<exposeRoot>/<cgroup path>/<name>`, so reading
 * the mirror file runs the view for that cgroup. Views of cgroups that are
 * gone, or were made again, are removed. Running it again changes nothing.
 *
 * Runs on Deno's blocking thread pool; attach and detach calls of one
 * process run one after the other.
 *
 * With `options.state`, the attach is also recorded in that state
 * directory's manifest as a rule, which a running watcher picks up and
 * keeps true: a view for each cgroup that appears, none for those removed.
 *
 * Needs `--allow-ffi`, and root (or CAP_BPF with CAP_PERFMON, and write
 * access to both roots and the state directory), on a kernel with cgroup
 * iterators (6.1).
 *
 * @example A view per cgroup of a service's subtree
 * ```ts ignore
 * import { attach } from "./mod.ts";
 * const report = await attach("build/examples/cgstat.bpf.o:cgstat", {
 *   cgroupRoot: "system.slice",
 *   pinRoot: "/sys/fs/bpf/cgstat",
 *   exposeRoot: "/run/bpfx/cgroups",
 *   name: "stat",
 *   onProgress: (done, total) => console.log(`${done}/${total}`),
 * });
 * console.log(`${report.made.length} made, ${report.kept.length} kept`);
 * ```
 *
 * @throws {BpfError} of kind `wrong-kind` when `prog` neither iterates
 * cgroups nor attaches to them, or does not take `attachType`; `invalid`
 * when the name has a `/` or `.`, the cgroup root is not a cgroup2
 * directory, `depth` is beyond the tree, a view has no expose root, or the
 * expose root is on bpffs or cgroupfs; `not-bpffs` when the pin root is not
 * on bpffs. Nothing is made when it throws.
 */
export function attach(
  prog: string,
  options: AttachOptions,
): Promise<AttachReport> {
  const { onProgress: _, ...given } = options;
  const params: Record<string, unknown> = { prog };
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) params[key] = value;
  }
  return runBulk<AttachReport>(
    "attach",
    params,
    options.onProgress,
    (r) => r.cgroups,
  );
}

/**
 * Removes the cgroup views under `options.pinRoot` (those named
 * `options.name`, or all), the symlinks under `options.exposeRoot` that
 * point at them, and the directories left empty below both roots. Touches
 * nothing else: a pin root that does not exist gives an empty report.
 * With `options.state`, the matching attach rules of that state directory
 * are forgotten first, so a running watcher stops keeping them.
 *
 * Needs `--allow-ffi`, and root (write access to both roots and the state
 * directory).
 *
 * @throws {BpfError} of kind `not-bpffs` when the pin root is not on bpffs.
 */
export function detach(options: DetachOptions): Promise<DetachReport> {
  const params: Record<string, unknown> = { pinRoot: options.pinRoot };
  if (options.exposeRoot !== undefined) params.exposeRoot = options.exposeRoot;
  if (options.name !== undefined) params.name = options.name;
  if (options.state !== undefined) params.state = options.state;
  return runBulk<DetachReport>(
    "detach",
    params,
    options.onProgress,
    (r) => r.removed.length,
  );
}
