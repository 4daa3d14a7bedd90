/**
 * Cgroup programs over a subtree, and a status per attachment.
 *
 * `attach()` with a cgroup program (cgroup_skb, cgroup_sock,
 * cgroup_sock_addr, sock_ops, cgroup_device, cgroup_sysctl, cgroup_sockopt)
 * gives each selected cgroup of a subtree one BPF link of the program
 * (`BPF_LINK_CREATE` on the cgroup), pinned at `<pinRoot>/<cgroup
 * path>/<name>`; {@linkcode attachStatus} says, for each attach rule of a
 * state directory and each cgroup it selects, whether its view or link is
 * there, its cgroup is gone, or it failed and why.
 *
 * @module
 */

import { call } from "./_call.ts";
import type { AttachRule } from "./types.ts";
import { stateDir, type StateOptions } from "./state.ts";

export type { CgroupAttachType } from "./types.ts";

/**
 * What is true of one cgroup of a rule: `attached` (its view or link is
 * pinned, with its id), `cgroup-gone` (a pin left for a cgroup that was
 * removed), `not-selected` (a pin for a cgroup the rule no longer
 * selects), `failed` (the last attach or the watcher could not make it:
 * `why` says why) or `missing` (nothing yet: no watcher has run since the
 * cgroup appeared).
 */
export type AttachmentState =
  | "attached"
  | "cgroup-gone"
  | "not-selected"
  | "failed"
  | "missing";

/** One cgroup of a rule, as {@linkcode attachStatus} gives it. */
export interface Attachment {
  /** The cgroup's path relative to the rule's root (`""`: the root). */
  readonly cgroup: string;
  /** The cgroup's id (its directory's inode number). */
  readonly cgroupId: number;
  /** What is true of it now. */
  readonly state: AttachmentState;
  /** The view's or link's id, when one is pinned. */
  readonly linkId?: number;
  /** Where it is pinned. */
  readonly pin?: string;
  /** Why it failed, or what to do. */
  readonly why?: string;
}

/** A rule with its cgroups. */
export interface RuleStatus extends AttachRule {
  /** Each cgroup the rule selects, and each pin it left for another. */
  readonly entries: readonly Attachment[];
}

/**
 * Each attach rule of the state directory (`options.state`, else
 * `BPFX_STATE`, else `/run/bpfx`) with the state of each cgroup it
 * selects, read from the kernel and the pin tree now; why an attachment
 * failed is what attach or the watcher last recorded. A state directory
 * without rules gives an empty list.
 *
 * Needs `--allow-ffi`, `--allow-env=BPFX_STATE` to honour that variable,
 * and root (CAP_BPF, to read the pinned links).
 *
 * @example Which cgroups have their link
 * ```ts ignore
 * import { attachStatus } from "./mod.ts";
 * for (const rule of attachStatus()) {
 *   for (const a of rule.entries) console.log(rule.name, a.cgroup, a.state, a.linkId);
 * }
 * ```
 *
 * @throws {BpfError} of kind `invalid` when the manifest is corrupt.
 */
export function attachStatus(options: StateOptions = {}): RuleStatus[] {
  return call<RuleStatus[]>("attach_status", { state: stateDir(options) });
}
