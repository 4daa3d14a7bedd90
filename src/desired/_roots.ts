/**
 * A rule's cgroup root that does not exist yet: plan says so, apply
 * records the rule all the same (`attach()` with `waitForRoot`), and the
 * watcher fills it when the root appears.
 *
 * @module
 */

import { call } from "../_call.ts";

/**
 * Why nothing is made for a rule over `root` yet, when `root` does not
 * exist; undefined when it does.
 *
 * @throws {BpfError} when no part of `root` is a cgroup2 directory.
 */
export function waitingFor(root: string): string | undefined {
  const { exists } = call<{ exists: boolean }>("cgroup_nearest", {
    path: root,
  });
  return exists
    ? undefined
    : `cgroup root "${root}" does not exist yet: the watcher fills the rule when it appears`;
}
