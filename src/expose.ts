/**
 * Exposures: a pinned object put at a path outside bpffs, as a symlink to
 * the pin or as a bind mount of the pin onto a file made for it, and
 * recorded in the manifest of a state directory so that the watcher
 * (`watch()`) removes it when its pin goes.
 *
 * - {@linkcode expose} makes one and records it;
 * - {@linkcode unexpose} removes one and forgets it;
 * - {@linkcode exposures} lists them with their state, read back from the
 *   kernel and the filesystems;
 * - {@linkcode readManifest} gives the manifest itself: exposures and attach
 *   rules.
 *
 * The state directory is `options.state`, else `BPFX_STATE`, else
 * `/run/bpfx` ({@linkcode stateDir}). The manifest is written by temporary
 * file, fsync and rename, under a lock; a corrupt manifest is refused and
 * never overwritten (a copy is kept at `manifest.json.corrupt`).
 *
 * @module
 */

import { call } from "./_call.ts";
import type { AttachRule, ObjectKind } from "./types.ts";
import { stateDir, type StateOptions } from "./state.ts";

export type { AttachRule } from "./types.ts";

/** How an exposure puts the object at its path. */
export type ExposureMode = "symlink" | "bind";

/** A pinned object put at a path outside bpffs. */
export interface Exposure {
  /** The pin on bpffs. */
  readonly pin: string;
  /** Where it is exposed (absolute). */
  readonly path: string;
  /** A symlink to the pin, or a bind mount of the pin onto a file. */
  readonly mode: ExposureMode;
  /**
   * The kernel id of the object when it was exposed: a pin that now holds
   * another object is not the one exposed.
   */
  readonly objectId: number;
  /** The kind of the object. */
  readonly kind: ObjectKind;
  /**
   * A bind exposure's mount, as bpfx made it: it is checked and unmounted
   * by these ids, never by its path, so a mount someone else put at the
   * path is never touched, and a mount whose directory was moved is still
   * found.
   */
  readonly mount?: ExposureMount;
  /**
   * For an exposure inside a container: the mount namespace `path` is in,
   * known by its identity and by the process it was entered through.
   */
  readonly into?: ExposureNamespace;
}

/**
 * The mount namespace of an exposure inside a container. The namespace is
 * known by its nsfs inode and device, and the process by its PID and start
 * time together, so a recycled PID is never taken for it.
 */
export interface ExposureNamespace {
  /** The process entered (a container's init), as the host sees its PID. */
  readonly pid: number;
  /** The process's start time, in clock ticks after boot (`/proc/PID/stat`). */
  readonly startTime: number;
  /** The inode of the mount namespace (`stat -L /proc/PID/ns/mnt`). */
  readonly mntNs: number;
  /** The device of the nsfs that inode is on. */
  readonly nsDev: number;
}

/** How bpfx knows a bind exposure's mount again. */
export interface ExposureMount {
  /** The mount id, as `/proc/self/mountinfo` gives it (`STATX_MNT_ID`). */
  readonly mntId: number;
  /** The never-reused mount id (`STATX_MNT_ID_UNIQUE`, Linux 6.8+). */
  readonly mntIdUnique?: number;
  /** The device of the pin the mount shows. */
  readonly dev: number;
  /** The inode of the pin the mount shows. */
  readonly ino: number;
}

/** What {@linkcode unexpose} forgot, and what it left alone. */
export interface Unexposed extends Exposure {
  /**
   * Why what is at the path now was left in place: it is not verifiably
   * the exposure bpfx made (another symlink, another mount, a file).
   */
  readonly leftAlone?: string;
}

/**
 * The state of an exposure, read from the kernel and the filesystems:
 * `ok`; `pin-gone` (the pin was removed, or now holds another object);
 * `path-gone` (the exposure's file was removed); `unmounted` (a bind
 * exposure's file is there but nothing is mounted on it); `moved` (a bind
 * exposure's mount is elsewhere: its directory was renamed); `ns-gone` (an
 * exposure inside a container whose process is gone: the namespace can no
 * longer be entered, and with a container's init it is gone).
 */
export type ExposureStatus =
  | "ok"
  | "pin-gone"
  | "path-gone"
  | "unmounted"
  | "moved"
  | "ns-gone";

/** An exposure as {@linkcode exposures} lists it, with its state. */
export interface ExposureState extends Exposure {
  /** What is true of it now. */
  readonly state: ExposureStatus;
}

/** What a state directory's `manifest.json` holds. */
export interface Manifest {
  /** The manifest's format version, 1. */
  readonly version: number;
  /** The exposures, in the order they were made. */
  readonly exposures: readonly Exposure[];
  /** The attach rules. */
  readonly rules: readonly AttachRule[];
  /**
   * What each desired-state file made (`apply()`), by the file's `name`;
   * absent when no file made anything.
   */
  readonly desired?: readonly {
    readonly file: string;
    readonly entries: readonly {
      readonly kind: string;
      readonly name: string;
      readonly pins: readonly string[];
      readonly paths: readonly string[];
    }[];
  }[];
}

/** Options for {@linkcode expose}. */
export interface ExposeOptions extends StateOptions {
  /**
   * Where to expose the object: an absolute path to a file that does not
   * exist, in an existing directory off bpffs, reached without symlinks.
   */
  path: string;
  /**
   * Bind-mount the pin onto a new empty file at `path` instead of making a
   * symlink. A bind mount holds the object alive until it is unmounted, and
   * works where a symlink into bpffs cannot be followed (a container that
   * sees only `path`).
   */
  bind?: boolean;
  /**
   * Expose inside the mount namespace of this process (a container's
   * init), as a read-only bind mount: `path` is resolved there, from the
   * container's root, without following any symlink. A number is a PID; a
   * `startTime` (clock ticks after boot, `/proc/PID/stat` field 22) refuses
   * a PID that now names another process.
   */
  into?: number | { pid: number; startTime?: number };
  /**
   * Make the missing directories of `path` (mode 0755), on the host or,
   * with `into`, inside the container: by handle, through no symlink, and
   * removed again when the exposure fails.
   */
  parents?: boolean;
}

/**
 * Puts the object pinned at `pin` at `options.path`, as a symlink to the pin
 * or (with `bind`) as a bind mount of the pin, and records it in the
 * manifest of the state directory (made if missing). A running watcher
 * removes the exposure when the pin goes.
 *
 * The directories on the way to `path` are opened without following any
 * symlink, so a symlink planted there cannot redirect the exposure; an
 * existing file is never replaced. An exposure never widens access: a
 * symlink leaves the pin's own mode in charge, and a bind mount shows the
 * pin's own inode. Nothing is left half-made: if recording fails, the
 * exposure is removed again.
 *
 * With `into`, the exposure is made inside a container: the pin is taken
 * on the host as a detached read-only mount, and a thread of the core
 * enters the mount namespace of that process (by a pidfd, its identity
 * checked) and mounts it at `path` there. `exposures()` shows it with the
 * container's PID and namespace, and the watcher removes it inside the
 * container when the pin goes, and forgets it when the process is gone.
 * Refused, with nothing left behind: a process that does not exist, is in
 * bpfx's own mount namespace, exits midway, or (with `startTime`) is not
 * the one meant; a symlink among `path`'s directories there; a file at
 * `path` there.
 *
 * With `parents`, the missing directories of `path` are made (mode 0755),
 * each from a handle on its parent: a symlink on the way is refused, a
 * directory made is opened only on the mount it was made on, and the
 * directories made are removed again when the exposure cannot be made or
 * recorded.
 *
 * Needs `--allow-ffi`, `--allow-env=BPFX_STATE` to honour that variable,
 * and root (CAP_BPF to open the pin, write access to the directories;
 * CAP_SYS_ADMIN for `bind`, which uses the new mount API of Linux 5.2).
 *
 * @example Exposing a view in a service's directory
 * ```ts ignore
 * import { expose } from "./mod.ts";
 * const x = expose("/sys/fs/bpf/tasks", { path: "/srv/app/tasks" });
 * console.log(x.mode, x.objectId); // "symlink", the link's id
 * ```
 *
 * @throws {BpfNotFoundError} when nothing is pinned at `pin`, or the
 * directory of `path` does not exist (and `parents` is not set).
 * @throws {BpfAlreadyExistsError} when a file is at `path` (it is kept) or
 * an exposure is recorded there.
 * @throws {BpfError} of kind `invalid` when `path` is not absolute, is on
 * bpffs, or a directory on the way to it is a symlink; when `into` is a
 * process in bpfx's own mount namespace; and when the manifest is corrupt
 * (it is kept as it is).
 * @throws {BpfNotFoundError} when `into` names no process, one that exited
 * midway, or one that started at another time than `startTime`.
 */
export function expose(pin: string, options: ExposeOptions): Exposure {
  const into = typeof options.into === "number"
    ? { pid: options.into }
    : options.into;
  return call<Exposure>("expose", {
    state: stateDir(options),
    pin,
    path: options.path,
    bind: options.bind === true || into !== undefined,
    parents: options.parents === true,
    ...(into === undefined ? {} : { into }),
  });
}

/**
 * Removes the exposure at `path` (its symlink, or its mount and the empty
 * file under it; nothing that is not the exposure's own) and forgets it.
 * Returns what was removed.
 *
 * Needs `--allow-ffi`, `--allow-env=BPFX_STATE` to honour that variable,
 * and root (write access to the directory; CAP_SYS_ADMIN to unmount).
 *
 * @throws {BpfNotFoundError} when no exposure is recorded at `path`.
 * @throws {BpfError} of kind `invalid` when the manifest is corrupt.
 */
export function unexpose(
  path: string,
  options: UnexposeOptions = {},
): Unexposed {
  return call<Unexposed>("unexpose", {
    state: stateDir(options),
    path,
    ...(options.into === undefined ? {} : { into: options.into }),
  });
}

/** Options for {@linkcode unexpose}. */
export interface UnexposeOptions extends StateOptions {
  /** The exposure is inside the container of this PID, as recorded. */
  into?: number;
}

/**
 * Every exposure recorded in the state directory, with its state read
 * from the kernel and the filesystems now. A state directory without a
 * manifest has none.
 *
 * Needs `--allow-ffi`, `--allow-env=BPFX_STATE` to honour that variable,
 * and root (CAP_BPF, to open the pins and compare the objects).
 *
 * @throws {BpfError} of kind `invalid` when the manifest is corrupt.
 */
export function exposures(options: StateOptions = {}): ExposureState[] {
  return call<ExposureState[]>("exposures", { state: stateDir(options) });
}

/**
 * The manifest of the state directory: its exposures and attach rules, as
 * recorded (nothing is checked against the kernel). A state directory
 * without a manifest gives an empty one.
 *
 * Needs `--allow-ffi`, `--allow-env=BPFX_STATE` to honour that variable,
 * and read access to the state directory.
 *
 * @throws {BpfError} of kind `invalid` when the manifest is corrupt.
 */
export function readManifest(options: StateOptions = {}): Manifest {
  return call<Manifest>("manifest", { state: stateDir(options) });
}
