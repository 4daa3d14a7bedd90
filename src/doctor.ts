/**
 * Checks that this machine can run bpfx: kernel, bpffs, cgroup2, BTF and
 * privileges ({@linkcode doctor}); and where the core library was found
 * ({@linkcode libraryLocation}), and waiting for its download when this
 * module was imported by URL ({@linkcode ready}).
 *
 * @module
 */

import { call } from "./_call.ts";

export { type LibraryLocation, libraryLocation, ready } from "./ffi.ts";

/** One check made by {@linkcode doctor}. */
export interface DoctorCheck {
  /** What was checked. */
  readonly name: string;
  /** Whether it passed. */
  readonly ok: boolean;
  /** What was found. */
  readonly detail: string;
  /** What to do when it failed, if something can be done. */
  readonly fix: string | null;
  /**
   * For a failed check, how the kernel refused it when that is a policy
   * rather than a missing feature: `"eperm-before-verification"` when the
   * probe's program load failed with EPERM before the verifier processed
   * any instruction (an LSM or a vendor patch refusing that program type
   * even to root); `"not-configured"` when the kernel's build leaves the
   * feature out (a `CONFIG_` option not set: kprobes, fprobe), which the
   * check's detail names. `null` otherwise.
   */
  readonly refused: DoctorRefusal | null;
}

/**
 * Why the kernel refused a {@linkcode DoctorCheck}: by policy, or because
 * it is built without the feature.
 */
export type DoctorRefusal = "eperm-before-verification" | "not-configured";

/** What {@linkcode doctor} found. */
export interface DoctorReport {
  /** Whether every check passed. */
  readonly ok: boolean;
  /** The running kernel's release. */
  readonly kernel: string;
  /** The checks, in order. */
  readonly checks: readonly DoctorCheck[];
  /** The bpffs mount points. */
  readonly bpffs: readonly string[];
  /** The cgroup2 mount point, if any. */
  readonly cgroup2: string | null;
  /** What `fix` did. */
  readonly fixed: readonly string[];
}

/** Options for {@linkcode doctor}. */
export interface DoctorOptions {
  /**
   * Repair what can be repaired safely (such as mounting bpffs at
   * `/sys/fs/bpf`) before reporting.
   */
  fix?: boolean;
}

/**
 * Checks the kernel, bpffs, cgroup2, BTF and privileges that bpfx needs, and
 * says how to fix each failed check. Never throws for a failed check: read
 * `ok`.
 *
 * Needs `--allow-ffi`. Runs unprivileged, but some checks fail without root
 * or CAP_BPF; `fix` needs root (CAP_SYS_ADMIN to mount).
 */
export function doctor(options: DoctorOptions = {}): DoctorReport {
  return call<DoctorReport>("doctor", { fix: options.fix ?? false });
}
