/**
 * Views: BPF iterator links pinned in bpffs, whose reads run the program.
 *
 * - {@linkcode createView} makes one view with the parameters its target
 *   takes (a process, a cgroup and an order, a map) and pins it;
 * - {@linkcode openView} opens a view (or any file the core can read) for
 *   reading through the data lane: a {@linkcode ViewReader} gives bytes,
 *   a byte stream, lines or the whole text; {@linkcode readView} reads it
 *   all at once;
 * - {@linkcode attach} keeps one cgroup view per cgroup of a subtree, pinned
 *   under a pin root and exposed as symlinks in a mirror of the cgroup tree;
 *   {@linkcode detach} removes them.
 *
 * Reads, attach and detach run on Deno's blocking thread pool (nonblocking
 * FFI calls) and return promises; the rest is synchronous.
 *
 * Reading (`view_reader.ts`) and the views per cgroup (`attach.ts`) have
 * files of their own; this module makes views and re-exports the others.
 *
 * @module
 */

import { call } from "./_call.ts";
import { BpfError } from "./errors.ts";
import type { LinkInfo } from "./pins.ts";
import type { CgroupOrder } from "./types.ts";

export type { CgroupOrder } from "./types.ts";

export * from "./view_reader.ts";
export * from "./attach.ts";

/** The iterator targets that take a process or a thread. */
export type TaskTarget = "task" | "task_file" | "task_vma";

/** The iterator targets that take a map. */
export type MapTarget = "bpf_map_elem" | "bpf_sk_storage_map" | "sockmap";

/**
 * A task view (targets `task`, `task_file`, `task_vma`): every task, or with
 * `pid` only the threads of that process.
 */
export interface TaskViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target?: TaskTarget;
  /** Only the threads of this process (a positive pid). */
  pid?: number;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/** A task view limited to one thread. */
export interface ThreadViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target?: TaskTarget;
  /** Only this thread (a positive tid). */
  tid: number;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/** A cgroup view: one cgroup, or a walk from it in `order`. */
export interface CgroupViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target: "cgroup";
  /**
   * The cgroup: a path (absolute, or relative to the cgroup2 mount) or its
   * id (the inode number of its directory; a string of digits is an id too).
   */
  cgroup: string | number;
  /** The walk order; `self` (only that cgroup) when left out. */
  order?: CgroupOrder;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/** A view of a map's elements (targets `bpf_map_elem`, ...). */
export interface MapViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target: MapTarget;
  /** The pin of the map to walk. */
  map: string;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
}

/** A view whose target takes no parameters (`bpf_map`, `bpf_prog`, `tcp`, ...). */
export interface PlainViewParams {
  /** No target, no parameters. */
  target?: undefined;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/**
 * The parameters of a view, typed by the program's iterator target.
 *
 * `target` only selects the shape of the parameters for the type checker:
 * it is not sent to the core. The core reads the program's real target
 * from the kernel and refuses a parameter that target does not take (or a
 * missing one it needs), so a `target` that does not match the program
 * cannot make a wrong view.
 */
export type ViewParams =
  | TaskViewParams
  | ThreadViewParams
  | CgroupViewParams
  | MapViewParams
  | PlainViewParams;

/** Where to pin a view, and how to load its program. */
export interface ViewPin {
  /** The pin to make, on bpffs; its name may not contain `.`. */
  pin: string;
  /**
   * Where maps pinned by name go when `prog` is `OBJ:NAME`; the core's
   * default is `/sys/fs/bpf`.
   */
  pinByNameRoot?: string;
}

/** Options for {@linkcode createView}: the pin and the view's parameters. */
export type ViewOptions = ViewPin & ViewParams;

const MAX_U32 = 0xffff_ffff;

function invalid(pin: string, what: string): BpfError {
  return new BpfError(`Cannot make the view at "${pin}": ${what}`, {
    kind: "invalid",
    op: "params",
    errno: 22, // EINVAL
    path: pin,
  });
}

/** The `params` object of op `view_create`; every given key is sent. */
function coreParams(options: ViewOptions): Record<string, unknown> {
  // Read loosely: a caller without types may give any mix, and the core
  // names the parameter its target does not take.
  const given = options as {
    pid?: unknown;
    tid?: unknown;
    cgroup?: unknown;
    order?: unknown;
    map?: unknown;
  };
  const params: Record<string, unknown> = {};
  for (const key of ["pid", "tid"] as const) {
    const value = given[key];
    if (value === undefined) continue;
    if (
      typeof value !== "number" || !Number.isInteger(value) || value < 1 ||
      value > MAX_U32
    ) {
      throw invalid(
        options.pin,
        `${key} must be a positive 32-bit integer, got ${String(value)}`,
      );
    }
    params[key] = value;
  }
  const cgroup = given.cgroup;
  if (cgroup !== undefined) {
    if (typeof cgroup === "number") {
      if (!Number.isSafeInteger(cgroup) || cgroup < 0) {
        throw invalid(
          options.pin,
          `a cgroup id must be a non-negative integer, got ${cgroup}`,
        );
      }
      params.cgroup = String(cgroup);
    } else if (typeof cgroup === "string" && cgroup !== "") {
      params.cgroup = cgroup;
    } else {
      throw invalid(
        options.pin,
        `cgroup must be a path or an id, got ${JSON.stringify(cgroup)}`,
      );
    }
  }
  if (given.order !== undefined) params.order = given.order;
  if (given.map !== undefined) params.map = given.map;
  return params;
}

/**
 * Makes a view of the iterator program `prog` and pins it at
 * `options.pin`: a BPF iterator link with the parameters of `options`,
 * which the core checks against the program's real target. Reading the pin
 * (with {@linkcode openView}, {@linkcode readView} or `cat`) runs the
 * program. Nothing is pinned unless every check passes.
 *
 * `prog` is a pinned program, or `OBJ:NAME`: the iterator program `NAME` of
 * the ELF object `OBJ`, loaded for this view (the view keeps it loaded).
 *
 * Needs `--allow-ffi`, and root (or CAP_BPF with CAP_PERFMON, as iterator
 * programs are tracing programs), on a kernel with BPF iterators and BTF:
 * 5.8 for task views, 5.9 for map element views, 6.1 for cgroup views and
 * for task views limited by `pid` or `tid`.
 *
 * @example A view of one process's threads
 * ```ts ignore
 * import { createView, readView } from "./mod.ts";
 * createView("build/examples/tasks.bpf.o:tasks", {
 *   pin: "/sys/fs/bpf/mytasks",
 *   pid: Deno.pid,
 * });
 * console.log(await readView("/sys/fs/bpf/mytasks"));
 * ```
 *
 * @throws {BpfError} of kind `invalid` for a parameter the target does not
 * take, `wrong-kind` for a program that is not an iterator, `not-bpffs` for a
 * pin off bpffs, `permission` when the kernel refuses the program's type
 * before verification (a security policy; see `load()`).
 * @throws {BpfNotFoundError} for a program, cgroup, process or map that does
 * not exist.
 * @throws {BpfAlreadyExistsError} when the pin exists.
 */
export function createView(prog: string, options: ViewOptions): LinkInfo {
  const request: Record<string, unknown> = {
    prog,
    pin: options.pin,
    params: coreParams(options),
  };
  if (options.pinByNameRoot !== undefined) {
    request.pinByNameRoot = options.pinByNameRoot;
  }
  return call<LinkInfo>("view_create", request);
}
