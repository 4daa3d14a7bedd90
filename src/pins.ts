/**
 * Pins on bpffs: listing them ({@linkcode ls}), describing the object behind
 * one ({@linkcode show}) and removing them ({@linkcode unpin}).
 *
 * @module
 */

import { call } from "./_call.ts";
import { BpfError } from "./errors.ts";
import type { CgroupOrder, ObjectKind } from "./types.ts";

export type { ObjectKind } from "./types.ts";

/** A JSON value, as the core sends it. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/**
 * One pin found by {@linkcode ls}. A file that cannot be opened is listed
 * with kind `unknown` and the reason in `error`.
 */
export interface PinEntry {
  /** The pin file. */
  readonly path: string;
  /** The kind of object pinned there, or `unknown` when it cannot be opened. */
  readonly kind: ObjectKind | "unknown";
  /** The kernel's id of the object. */
  readonly id: number;
  /** The object's name (may be empty). */
  readonly name: string;
  /** The program, map or link type, such as `xdp`, `hash` or `iter`. */
  readonly type: string;
  /** A link's target, as {@linkcode show} gives it (links only). */
  readonly target?: LinkTarget;
  /** Why the file could not be opened, for kind `unknown`. */
  readonly error?: string;
}

/** The fields every {@linkcode ObjectInfo} has. */
export interface ObjectInfoBase {
  /** The pin the object was opened from, or `null` for one held otherwise. */
  readonly path: string | null;
  /** The kind of object. */
  readonly kind: ObjectKind;
  /** The kernel's id of the object. */
  readonly id: number;
  /** The object's name (may be empty). */
  readonly name: string;
  /** The program, map or link type. */
  readonly type: string;
}

/** A loaded program, as the kernel describes it. */
export interface ProgramInfo extends ObjectInfoBase {
  /** A program. */
  readonly kind: "prog";
  /** The program tag (hex). */
  readonly tag: string;
  /** When it was loaded (ISO 8601), if known. */
  readonly loadTime: string | null;
  /** The ids of the maps it uses. */
  readonly mapIds: readonly number[];
  /** Its BTF object id, or 0. */
  readonly btfId: number;
  /** The uid that loaded it. */
  readonly uid: number;
  /** Whether its license is GPL compatible. */
  readonly gplCompatible: boolean;
  /** The size of its translated instructions, in bytes. */
  readonly xlatedBytes: number;
  /** The size of its JIT-compiled code, in bytes. */
  readonly jitedBytes: number;
  /**
   * Nanoseconds it has run, counted while `kernel.bpf_stats_enabled` is 1
   * or a process holds `BPF_ENABLE_STATS` (`bpfx serve --enable-stats`).
   */
  readonly runTimeNs: number;
  /** Times it has run, counted as {@linkcode ProgramInfo.runTimeNs} is. */
  readonly runCnt: number;
}

/** A map, as the kernel describes it. */
export interface MapInfo extends ObjectInfoBase {
  /** A map. */
  readonly kind: "map";
  /** The key size in bytes. */
  readonly keySize: number;
  /** The value size in bytes. */
  readonly valueSize: number;
  /** The maximum number of entries. */
  readonly maxEntries: number;
  /** The map flags (`BPF_F_*`). */
  readonly flags: number;
  /** Its BTF object id, or 0. */
  readonly btfId: number;
}

/**
 * What a link attaches to, as {@linkcode show} reports it. Which fields are
 * there depends on the link type (`type` of the {@linkcode LinkInfo}):
 *
 * - `iter` (a view): `{iter}` names the iterator target, with its
 *   parameters: `{iter: "task", tid, pid}` (0 when not limited; also
 *   `task_file`, `task_vma`), `{iter: "cgroup", cgroupId, order}`,
 *   `{iter: "bpf_map_elem", mapId}` (also `bpf_sk_storage_map`, `sockmap`),
 *   or `{iter}` alone for a target without parameters (`bpf_map`, ...);
 * - `cgroup`: `{cgroupId, attachType}`;
 * - `tracing`: `{attachType, targetObjId, targetBtfId}`;
 * - `netns`: `{netnsIno, attachType}`;
 * - `xdp`: `{ifindex, devname}`; `tcx` and `netkit`: `{ifindex, devname,
 *   attachType}` (`devname` is the name of the index in this process's
 *   network namespace, left out when it has none);
 * - `struct_ops`: `{mapId}`;
 * - `perf_event`: `{perf_event_type}` (`kprobe`, `kretprobe`, `uprobe`,
 *   `uretprobe`, `tracepoint` or `event`) and, by that type, `{retprobe,
 *   func, offset, addr, missed}`, `{retprobe, file, offset}`,
 *   `{tracepoint}` or `{event_type, event_config}`;
 * - `kprobe_multi`: `{retprobe, func_cnt, missed, funcs: [{addr, func}]}`;
 * - `uprobe_multi`: `{retprobe, path, func_cnt, pid, funcs: [{offset,
 *   ref_ctr_offset, cookie}]}`;
 * - `raw_tracepoint`: `{tp_name}`;
 * - `netfilter`: `{pf, hook, prio, flags}`;
 * - any other type: `{}`.
 *
 * The fields of the link types added with single-target links
 * (`attachLink()`) carry bpftool's names (`bpftool link show -j`).
 */
export interface LinkTarget {
  /** An iterator link's target, such as `task`, `cgroup` or `bpf_map_elem`. */
  readonly iter?: string;
  /** A task iterator's thread, or 0 when it is not limited to one. */
  readonly tid?: number;
  /** A task iterator's process, or 0 when it is not limited to one. */
  readonly pid?: number;
  /** The cgroup of a cgroup iterator or a cgroup link: its inode number. */
  readonly cgroupId?: number;
  /** A cgroup iterator's walk order (`unspec` is never made by bpfx). */
  readonly order?: CgroupOrder | "unspec";
  /** The map of a map element iterator or a struct_ops link. */
  readonly mapId?: number;
  /** The attach type, such as `cgroup_inet_ingress` or `tcx_ingress`. */
  readonly attachType?: string;
  /** The network interface of an xdp, tcx or netkit link. */
  readonly ifindex?: number;
  /** The name of `ifindex` in this process's network namespace. */
  readonly devname?: string;
  /** A perf event link's kind: `kprobe`, `uprobe`, `tracepoint`, ... */
  readonly perf_event_type?: string;
  /** Whether a probe fires on return (kretprobe, uretprobe). */
  readonly retprobe?: boolean;
  /** A kprobe's kernel function. */
  readonly func?: string;
  /** A probe's offset: in the function (kprobe) or the file (uprobe). */
  readonly offset?: number;
  /** A uprobe's file. */
  readonly file?: string;
  /** A tracepoint link's `category:name`... as the kernel gives it: `name`. */
  readonly tracepoint?: string;
  /** A raw tracepoint link's name. */
  readonly tp_name?: string;
  /** How many times a kprobe missed (it could not run). */
  readonly missed?: number;
  /** The network namespace's inode of a netns link. */
  readonly netnsIno?: number;
  /** The object id of a tracing link's target, or 0 for the kernel. */
  readonly targetObjId?: number;
  /** The BTF id of a tracing link's target function. */
  readonly targetBtfId?: number;
  /** Fields of link types not listed here. */
  readonly [key: string]: JsonValue | undefined;
}

/** A link, as the kernel describes it. */
export interface LinkInfo extends ObjectInfoBase {
  /** A link. */
  readonly kind: "link";
  /** The id of the program it attaches. */
  readonly progId: number;
  /**
   * What it attaches to; the fields depend on the link type (see
   * {@linkcode LinkTarget}), for example `{"iter": "cgroup", "cgroupId":
   * 123, "order": "self"}` for a cgroup view.
   */
  readonly target: LinkTarget;
}

/** A kernel object, as the kernel describes it; `kind` tells which. */
export type ObjectInfo = ProgramInfo | MapInfo | LinkInfo;

/** Options for {@linkcode ls}. */
export interface LsOptions {
  /**
   * How deep to walk: 1 lists only the directory's own entries, 2 also the
   * entries of its subdirectories, and so on. Left out: no limit.
   */
  depth?: number;
}

/** What {@linkcode unpin} removed. */
export interface UnpinReport {
  /** The paths removed, in walk order, each directory after its contents. */
  readonly removed: readonly string[];
  /**
   * What was emptied but stays: bpffs's preloaded `maps.debug` and
   * `progs.debug`, and mount roots.
   */
  readonly kept: readonly string[];
}

/** Options for {@linkcode unpin}. */
export interface UnpinOptions {
  /** Remove a directory and every pin under it. */
  recursive?: boolean;
}

/** The default bpffs mount point. */
export const DEFAULT_BPFFS = "/sys/fs/bpf";

/**
 * Lists the pins under the bpffs directory `path` (default `/sys/fs/bpf`).
 * Directories are walked, not listed; symlinks are not followed and other
 * mounts not entered. bpffs's preloaded `maps.debug` and `progs.debug` are
 * left out.
 *
 * Needs `--allow-ffi`, and the right to read the pins: root by default, as
 * opening a pin needs read access to it and CAP_BPF to describe the object.
 *
 * @throws {BpfError} of kind `not-bpffs` when `path` is not on a bpffs.
 */
export function ls(
  path: string = DEFAULT_BPFFS,
  options: LsOptions = {},
): PinEntry[] {
  const depth = options.depth;
  if (depth !== undefined && !(Number.isSafeInteger(depth) && depth >= 1)) {
    throw new BpfError(
      `Cannot list "${path}": depth must be a positive integer, got ${depth}`,
      { kind: "invalid", op: "ls", errno: 22, path },
    );
  }
  return call<PinEntry[]>("ls", { path, depth: depth ?? null });
}

/**
 * Describes the program, map or link pinned at `path`.
 *
 * Needs `--allow-ffi`, and root or CAP_BPF.
 *
 * @throws {BpfNotFoundError} when nothing is pinned at `path`.
 */
export function show(path: string): ObjectInfo {
  return call<ObjectInfo>("show", { path });
}

/**
 * Removes the pin at `path`; with `recursive`, removes a directory and every
 * pin under it (a mount root and bpffs's preloaded files are emptied or left,
 * and reported in `kept`). The objects live on while something else holds
 * them.
 *
 * Needs `--allow-ffi`, and write access to the bpffs directory (root by
 * default).
 */
export function unpin(path: string, options: UnpinOptions = {}): UnpinReport {
  return call<UnpinReport>("unpin", {
    path,
    recursive: options.recursive ?? false,
  });
}

/** Options for {@linkcode renamePin}. */
export interface RenamePinOptions {
  /** Refuse when `to` exists (`RENAME_NOREPLACE`), instead of replacing it. */
  noReplace?: boolean;
  /** Make the directories missing above `to` first, as `mkdir -p` does. */
  parents?: boolean;
}

/**
 * Moves the pin (or bpffs directory) `from` to `to` in one step, within one
 * bpffs mount (`renameat2`, relative to handles on both directories). An
 * existing pin at `to` is replaced atomically, so `to` names the old object
 * or the new one and never nothing; with `noReplace` it is refused. The
 * objects stay as they are: only their names move.
 *
 * Needs `--allow-ffi`, and write access to both bpffs directories.
 *
 * @throws {BpfNotFoundError} when `from` or a directory is missing.
 * @throws {BpfAlreadyExistsError} with `noReplace`, when `to` exists.
 * @throws {BpfError} of kind `not-bpffs` when a directory is not on bpffs,
 * `invalid` for two mounts or a `.` in the new name.
 */
export function renamePin(
  from: string,
  to: string,
  options: RenamePinOptions = {},
): void {
  call("pin_rename", {
    from,
    to,
    noReplace: options.noReplace ?? false,
    parents: options.parents ?? false,
  });
}
