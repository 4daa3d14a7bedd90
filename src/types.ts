/**
 * Types that several modules share, here so that the modules import them
 * from a module that imports none of them, and no two modules of `src/`
 * import each other (`scripts/ts_imports_check.ts`): the kind of a kernel
 * object, the order of a cgroup walk, the cgroup attach types, and an
 * attach rule. Each is also exported by the module it belongs to:
 * `pins.ts`, `views.ts`, `cgroup_links.ts` and `expose.ts`.
 *
 * @module
 */

/** The kind of a kernel object behind a pin. */
export type ObjectKind = "prog" | "map" | "link";

/** The order in which a cgroup view walks from its cgroup. */
export type CgroupOrder =
  | "self"
  | "descendants-pre"
  | "descendants-post"
  | "ancestors-up";

/**
 * The cgroup attach types, as bpftool names them (`bpftool cgroup attach`),
 * each with the program type that takes it:
 *
 * | attach type | program type |
 * |---|---|
 * | `ingress`, `egress` | cgroup_skb |
 * | `sock_create`, `sock_release`, `post_bind4`, `post_bind6` | cgroup_sock |
 * | `bind4`, `bind6`, `connect4`, `connect6`, `sendmsg4`, `sendmsg6`, `recvmsg4`, `recvmsg6`, `getpeername4`, `getpeername6`, `getsockname4`, `getsockname6`, `connect_unix`, `sendmsg_unix`, `recvmsg_unix`, `getpeername_unix`, `getsockname_unix` | cgroup_sock_addr |
 * | `sock_ops` | sock_ops |
 * | `device` | cgroup_device |
 * | `sysctl` | cgroup_sysctl |
 * | `getsockopt`, `setsockopt` | cgroup_sockopt |
 */
export type CgroupAttachType =
  | "ingress"
  | "egress"
  | "sock_create"
  | "sock_release"
  | "post_bind4"
  | "post_bind6"
  | "bind4"
  | "bind6"
  | "connect4"
  | "connect6"
  | "sendmsg4"
  | "sendmsg6"
  | "recvmsg4"
  | "recvmsg6"
  | "getpeername4"
  | "getpeername6"
  | "getsockname4"
  | "getsockname6"
  | "connect_unix"
  | "sendmsg_unix"
  | "recvmsg_unix"
  | "getpeername_unix"
  | "getsockname_unix"
  | "sock_ops"
  | "device"
  | "sysctl"
  | "getsockopt"
  | "setsockopt";

/**
 * An attach rule: a view or a cgroup program's link per selected cgroup of
 * a subtree, kept true by the watcher (recorded by `attach()` when given
 * `state`).
 */
export interface AttachRule {
  /** The pinned program the views or links are made from. */
  readonly prog: string;
  /** The subtree's root (absolute). */
  readonly cgroupRoot: string;
  /** Where the views or links are pinned. */
  readonly pinRoot: string;
  /** Where the mirror of the cgroup tree is (`""`: links without one). */
  readonly exposeRoot: string;
  /** The file name of each view or link. */
  readonly name: string;
  /** `link` for a cgroup program's links; views when left out. */
  readonly kind?: "view" | "link";
  /** A link rule's attach type (`egress`, `sysctl`, ...). */
  readonly attachType?: string;
  /** Only the cgroups this many levels below the root (0: the root). */
  readonly depth?: number;
  /** Only the cgroups whose name matches this glob. */
  readonly match?: string;
}
