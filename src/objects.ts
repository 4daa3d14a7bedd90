/**
 * BPF ELF objects: what an object file describes ({@linkcode inspect}, no
 * privileges) and loading it into the kernel with its pins
 * ({@linkcode load}).
 *
 * @module
 */

import { call } from "./_call.ts";

/** How a map of an object is pinned: not at all, or by name under a root. */
export type Pinning = "none" | "by-name";

/** A program as the ELF object describes it. */
export interface ProgramSpec {
  /** The function name. */
  readonly name: string;
  /** The ELF section, such as `xdp` or `tc/ingress`. */
  readonly section: string;
  /** The program type, such as `xdp` or `sched_cls`. */
  readonly type: string;
  /** The expected attach type, if the section names one. */
  readonly attachType: string | null;
  /** The attach target named by the section, such as a kernel function. */
  readonly attachTo: string | null;
  /** The number of instructions. */
  readonly instructions: number;
  /**
   * Whether a load without `only` loads it: false for a section whose name
   * starts with `?` (libbpf's "not loaded unless asked").
   */
  readonly autoload: boolean;
  /** Why bpfx cannot load it, or `null` when it can. */
  readonly unsupported: string | null;
  /** The maps its instructions (and the functions they call) use. */
  readonly maps: readonly string[];
}

/** A map as the ELF object describes it. */
export interface MapSpec {
  /** The map name. */
  readonly name: string;
  /** The ELF section, such as `.maps` or `.bss`. */
  readonly section: string;
  /** The map type, such as `hash` or `array`. */
  readonly type: string;
  /** The numeric map type (`enum bpf_map_type`). */
  readonly typeId: number;
  /** The key size in bytes. */
  readonly keySize: number;
  /** The value size in bytes. */
  readonly valueSize: number;
  /** The maximum number of entries. */
  readonly maxEntries: number;
  /** The map flags (`BPF_F_*`). */
  readonly flags: number;
  /** How the object asks for the map to be pinned. */
  readonly pinning: Pinning;
}

/**
 * What an extern is: a kernel function (`ksym-func`), a kernel variable
 * with a type (`ksym-var`, found by BTF) or without one (`ksym-typeless`,
 * found in /proc/kallsyms), or a `__kconfig` value.
 */
export type ExternKind = "ksym-func" | "ksym-var" | "ksym-typeless" | "kconfig";

/**
 * An extern an object needs (`__ksym`, `__kconfig`), and how it resolves on
 * the running kernel. {@linkcode load} refuses an object with a strong
 * extern that is not found, naming it; a weak one that is not found is 0.
 */
export interface ExternSpec {
  /** The extern's name, as the object declares it. */
  readonly name: string;
  /** A kfunc, a typed or typeless ksym, or a kconfig value. */
  readonly kind: ExternKind;
  /** Declared `__weak`. */
  readonly weak: boolean;
  /** Whether this kernel gives it. */
  readonly found: boolean;
  /** The kernel BTF id of a kfunc or a typed ksym. */
  readonly btfId?: number;
  /** A typeless ksym's address (hex). */
  readonly address?: string;
  /** A kconfig value, as the kernel's config (or uname) gives it. */
  readonly value?: string;
  /** The module whose BTF has it, when vmlinux's does not. */
  readonly module?: string;
  /** Why it is not found (or cannot be used). */
  readonly why?: string;
}

/** What an ELF object file describes, read without privileges. */
export interface ObjectSpec {
  /** The object file. */
  readonly path: string;
  /** The license the object declares. */
  readonly license: string;
  /** The kernel version the object declares, if any. */
  readonly kernelVersion: number | null;
  /** Whether the object has BTF. */
  readonly btf: boolean;
  /** Whether the object has BTF.ext (line info, CO-RE relocations). */
  readonly btfExt: boolean;
  /** Its programs. */
  readonly programs: readonly ProgramSpec[];
  /** Its maps. */
  readonly maps: readonly MapSpec[];
  /**
   * The externs it needs and whether this kernel has each (read from
   * /sys/kernel/btf, /proc/kallsyms and the kernel's config: root may be
   * needed for kallsyms addresses).
   */
  readonly externs: readonly ExternSpec[];
}

/** A program loaded and pinned by {@linkcode load}. */
export interface LoadedProgram {
  /** The function name. */
  readonly name: string;
  /** Where the program was pinned. */
  readonly path: string;
  /** The kernel's program id. */
  readonly id: number;
  /** The program type. */
  readonly type: string;
  /** The program tag (hex). */
  readonly tag: string;
}

/** A map created (or reused) and pinned by {@linkcode load}. */
export interface LoadedMap {
  /** The map name. */
  readonly name: string;
  /** Where the map is pinned. */
  readonly path: string;
  /** The kernel's map id. */
  readonly id: number;
  /** The map type. */
  readonly type: string;
  /** How the object asked for the map to be pinned. */
  readonly pinning: Pinning;
  /** Whether an existing pinned map was reused rather than created. */
  readonly reused: boolean;
}

/** A pin placed somewhere other than its plain name, and why. */
export interface Renamed {
  /** The name the object asked for. */
  readonly from: string;
  /** The name used. */
  readonly to: string;
  /** Why it changed. */
  readonly why: string;
}

/** What {@linkcode load} did. */
export interface LoadReport {
  /** The object file. */
  readonly object: string;
  /** The directory the programs and maps were pinned in. */
  readonly pinDir: string;
  /** The programs loaded and pinned. */
  readonly programs: readonly LoadedProgram[];
  /** The maps created or reused, and pinned. */
  readonly maps: readonly LoadedMap[];
  /** The names that were changed. */
  readonly renamed: readonly Renamed[];
}

/** Options for {@linkcode load}. */
export interface LoadOptions {
  /** The bpffs directory to pin the object's programs and maps in. */
  pinDir: string;
  /** Where maps pinned by name live; the core's default is `/sys/fs/bpf`. */
  pinByNameRoot?: string;
  /**
   * Load only these programs, `?` ones included, with the maps they use.
   * Without it, every program that autoloads is loaded, with every map.
   */
  only?: readonly string[];
  /**
   * The largest object file to read, in bytes: 64 MiB by default. The file
   * must be a regular file (a FIFO or a device is refused unread).
   */
  maxObjectSize?: number;
}

/** Options for {@linkcode inspect}. */
export interface InspectOptions {
  /** The largest object file to read, in bytes: 64 MiB by default. */
  maxObjectSize?: number;
}

/**
 * Reads what the BPF ELF object at `path` describes: its programs, maps,
 * license and BTF, and the externs it needs with what the running kernel
 * gives for each (from /sys/kernel/btf, /proc/kallsyms and the kernel's
 * config). Makes no bpf(2) call; kallsyms shows addresses only to root.
 *
 * Needs `--allow-ffi` (the core reads the file itself). The file must be a
 * regular file of at most `options.maxObjectSize` bytes (64 MiB).
 *
 * @example Listing the programs of an object
 * ```ts ignore
 * import { inspect } from "./mod.ts";
 * for (const p of inspect("xdp_pass.o").programs) console.log(p.name, p.type);
 * ```
 */
export function inspect(
  path: string,
  options: InspectOptions = {},
): ObjectSpec {
  const params: Record<string, unknown> = { path };
  if (options.maxObjectSize !== undefined) {
    params.maxObjectSize = options.maxObjectSize;
  }
  return call<ObjectSpec>("inspect", params);
}

/**
 * Loads the programs of the BPF ELF object at `path` (every one that
 * autoloads, or those `options.only` names) and pins the programs and their
 * maps under `options.pinDir`, which must be on a bpffs. Maps the
 * object pins by name go under `options.pinByNameRoot` (default
 * `/sys/fs/bpf`), and a compatible map already pinned there is reused. When
 * a step fails, every pin of the load is removed again.
 *
 * `__ksym` and `__kconfig` externs are linked against the running kernel
 * first (see {@linkcode ExternSpec}): a strong one the kernel lacks fails
 * the load before anything is made, naming it.
 *
 * Needs `--allow-ffi`, and root or CAP_BPF (plus CAP_NET_ADMIN or
 * CAP_PERFMON for some program types) on a kernel with bpffs.
 *
 * @throws {VerifierError} when the verifier refuses a program.
 * @throws {BpfError} of kind `permission` (errno 1, op `BPF_PROG_LOAD`) when
 * the kernel refuses a program's type with EPERM before verification, as
 * some kernels' security policies do for trampolines and map-element
 * iterators (`doctor()` marks such checks `refused`).
 * @throws {BpfAlreadyExistsError} when a pin is in the way.
 * @throws {BpfNotFoundError} when `only` names a program the object lacks.
 * @throws {NotSupportedError} when a program to load is of a type bpfx
 * cannot load (see {@linkcode ProgramSpec.unsupported}).
 * @throws {NotSupportedError} (feature `extern`) when the kernel lacks a
 * strong extern of the object.
 */
export function load(path: string, options: LoadOptions): LoadReport {
  const params: Record<string, unknown> = { path, pinDir: options.pinDir };
  if (options.pinByNameRoot !== undefined) {
    params.pinByNameRoot = options.pinByNameRoot;
  }
  if (options.only !== undefined) params.only = options.only;
  if (options.maxObjectSize !== undefined) {
    params.maxObjectSize = options.maxObjectSize;
  }
  return call<LoadReport>("load", params);
}
