/**
 * Any program as a pinned link: {@linkcode attachLink} makes one BPF link of
 * a program to one target (a network interface, a kernel or user function,
 * a tracepoint, a perf event, a netfilter hook) and pins it in bpffs. The
 * pin is the only reference bpfx keeps, so unpinning it (`unpin()`)
 * detaches the program; `ls()` and `show()` give the link's target.
 *
 * @module
 */

import { call } from "./_call.ts";
import type { LinkInfo } from "./pins.ts";

/**
 * The kinds of link {@linkcode attachLink} makes, as `attachType` names
 * them. Each takes a program of one type and a target of one form (`to`):
 *
 * | kind | program type | `to` |
 * |---|---|---|
 * | `xdp` | xdp | an interface: a name or an index |
 * | `tcx_ingress`, `tcx_egress` | sched_cls | an interface |
 * | `netkit_primary`, `netkit_peer` | sched_cls | a netkit device |
 * | `netfilter` | netfilter | `[ipv4:\|ipv6:]HOOK` (prerouting, input, forward, output, postrouting) |
 * | `kprobe`, `kretprobe` | kprobe | `FUNC` or `FUNC+OFFSET` |
 * | `kprobe_multi`, `kretprobe_multi` | kprobe (loaded for kprobe.multi) | a glob, or `F1,F2,...` |
 * | `uprobe`, `uretprobe` | kprobe | `PATH:SYMBOL`, `PATH:SYMBOL+OFFSET` or `PATH:0xOFFSET` |
 * | `uprobe_multi`, `uretprobe_multi` | kprobe (loaded for uprobe.multi) | `PATH:GLOB` or `PATH:S1,S2,...` |
 * | `tracepoint` | tracepoint | `CATEGORY:NAME` |
 * | `raw_tracepoint` | raw_tracepoint | `NAME` |
 * | `perf_event` | perf_event | `software:NAME` or `hardware:NAME` (`cpu-clock`, `instructions`, ...) |
 * | `tracing` | tracing, lsm (fentry, fexit, fmod_ret, lsm, tp_btf) | the target it was loaded for |
 */
export type LinkKind =
  | "xdp"
  | "tcx_ingress"
  | "tcx_egress"
  | "netkit_primary"
  | "netkit_peer"
  | "netfilter"
  | "kprobe"
  | "kretprobe"
  | "kprobe_multi"
  | "kretprobe_multi"
  | "uprobe"
  | "uretprobe"
  | "uprobe_multi"
  | "uretprobe_multi"
  | "tracepoint"
  | "raw_tracepoint"
  | "perf_event"
  | "tracing";

/** Options for {@linkcode attachLink}. */
export interface AttachLinkOptions {
  /** The target, in the form the link's kind takes (see {@linkcode LinkKind}). */
  to: string;
  /** Where to pin the link: a new name on bpffs, without `.`. */
  pin: string;
  /**
   * The kind of link, when the program's type and section do not say it or
   * say another: checked against the program's type.
   */
  attachType?: LinkKind;
  /** xdp: the mode; the kernel's choice (native when the driver has it) by default. */
  mode?: "generic" | "native" | "offload";
  /** netfilter: the hook's priority (default 0). */
  priority?: number;
  /** uprobe, uprobe_multi and perf_event: only this process. */
  pid?: number;
  /** perf_event: the CPU (default 0, or any CPU of `pid` when it is given). */
  cpu?: number;
  /** perf_event: sample every `period` events. */
  period?: number;
  /** perf_event: sample `frequency` times a second (default 99). */
  frequency?: number;
  /** Where maps pinned by name go when `prog` is `OBJ:NAME` (default /sys/fs/bpf). */
  pinByNameRoot?: string;
}

/**
 * Attaches the program `prog` to `options.to` as a BPF link, and pins the
 * link at `options.pin`. Returns the link's information: its `id`, the
 * `progId`, its `type` (`xdp`, `tcx`, `perf_event`, `kprobe_multi`, ...)
 * and its `target` as `show()` gives it.
 *
 * `prog` is a pinned program, or `OBJ:NAME`: program `NAME` of the ELF
 * object `OBJ`, loaded for the link (the link keeps it loaded, and its maps
 * with it; pin the object with `load()` first to reach its maps).
 *
 * The kind of link comes from the program's type and its section
 * (`kretprobe/...`, `uretprobe/...`, `classifier/ingress` or
 * `classifier/egress` for tcx), and from the target's shape (a `PATH:` for
 * a uprobe, a glob or a list for a multi link); `options.attachType`
 * overrides it. Every target is checked before anything is made, and the
 * link is pinned last: a failure leaves nothing attached and nothing pinned.
 *
 * Needs `--allow-ffi`, and root (CAP_BPF, CAP_NET_ADMIN for network links,
 * CAP_PERFMON for tracing links). Kernels: xdp 5.9, perf event links
 * (kprobe, uprobe, tracepoint) 5.15, kprobe_multi 5.18, netfilter 6.4, tcx
 * 6.6, uprobe_multi and netkit 6.7.
 *
 * @example Count unlinks with a kprobe that stays after the script ends
 * ```ts ignore
 * import { attachLink, unpin } from "./mod.ts";
 * const link = attachLink("build/examples/hello.bpf.o:count_unlink", {
 *   to: "do_unlinkat",
 *   pin: "/sys/fs/bpf/unlinks",
 * });
 * console.log(link.id, link.target); // { perf_event_type: "kprobe", func: "do_unlinkat", ... }
 * unpin("/sys/fs/bpf/unlinks"); // detaches it
 * ```
 *
 * @throws {BpfError} of kind `wrong-kind` for a program that does not
 * attach where asked, `invalid` for a malformed target or an option the
 * link's kind does not take, `not-bpffs` for a pin off bpffs, `permission`
 * when the kernel refuses the program's type before verification (a
 * security policy; `bpfx doctor` lists them), `not-supported` for a link
 * type this kernel or bpfx cannot make (struct_ops).
 * @throws {BpfNotFoundError} for a program, interface, function, symbol or
 * tracepoint that does not exist.
 * @throws {BpfAlreadyExistsError} when the pin exists.
 */
export function attachLink(prog: string, options: AttachLinkOptions): LinkInfo {
  const request: Record<string, unknown> = { prog };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) request[key] = value;
  }
  return call<LinkInfo>("link_attach", request);
}

/** Options for {@linkcode updateLink}. */
export interface UpdateLinkOptions {
  /**
   * A pinned program the link must still hold: the move happens only then
   * (`BPF_F_REPLACE`), else it fails with kind `busy`.
   */
  old?: string;
}

/** A link moved by {@linkcode updateLink}. */
export interface MovedLink {
  /** The link's id (the same before and after). */
  readonly linkId: number;
  /** The link's type (`cgroup`, `iter`, `xdp`, `tcx`, ...). */
  readonly type: string;
  /** The program it held. */
  readonly fromProgId: number;
  /** The program it holds now. */
  readonly toProgId: number;
}

/**
 * Moves the link pinned at `link` onto the program pinned at `prog` in one
 * step (`BPF_LINK_UPDATE`): the hook runs the old program until the new one
 * takes its place, with no moment where it is empty, and the pin and the
 * link's id stay. cgroup, xdp, tcx, netkit, iterator (same target) and
 * sockmap links take it; perf-event links (kprobe, uprobe, tracepoint,
 * perf_event), tracing, raw tracepoint, kprobe_multi, uprobe_multi and
 * netfilter links do not: make the new link, then remove the old one.
 *
 * Needs `--allow-ffi`, and root or CAP_BPF (with CAP_NET_ADMIN for network
 * links).
 *
 * @throws {NotSupportedError} when the link's type does not take the move.
 * @throws {BpfError} of kind `busy` when `old` is given and the link holds
 * another program, `invalid` when the program's type or attach type is not
 * the link's, `wrong-kind` when a pin holds another kind of object.
 */
export function updateLink(
  link: string,
  prog: string,
  options: UpdateLinkOptions = {},
): MovedLink {
  return call<MovedLink>("link_update", {
    link,
    prog,
    ...(options.old === undefined ? {} : { old: options.old }),
  });
}
