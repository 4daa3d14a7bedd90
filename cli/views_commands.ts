/**
 * The command table's entries of the views group: `bpfx view`, `bpfx cat`,
 * `bpfx attach` (one pinned link, whose handler is in `links.ts`) and the
 * `bpfx rule` group (`add`, `rm`, `ls`: a view or link for each cgroup of a
 * subtree), with the options they take. Their handlers' modules
 * (`views.ts`, `links.ts`) are imported only when they run.
 *
 * @module
 */

import type { CgroupAttachType } from "../src/cgroup_links.ts";
import type { LinkKind } from "../src/links.ts";
import {
  type Group,
  group,
  InvalidValue,
  type Leaf,
  leaf,
  type OptionSpec,
} from "./_table.ts";
import { parsePositive, STATE } from "./commands.ts";

/** The walks from `view --cgroup` (`--order`). */
const ORDERS = [
  "self",
  "descendants-pre",
  "descendants-post",
  "ancestors-up",
] as const;

/** A pid or tid: a positive 32-bit integer. */
function parseTaskId(value: string): number {
  const id = Number(value);
  if (!/^[0-9]+$/.test(value) || id < 1 || id > 0xffff_ffff) {
    throw new InvalidValue("Expected a positive integer.");
  }
  return id;
}

/** A signed 32-bit integer. */
function parseInt32(value: string): number {
  const n = Number(value);
  if (!/^-?[0-9]+$/.test(value) || n < -0x8000_0000 || n > 0x7fff_ffff) {
    throw new InvalidValue("Expected a 32-bit integer.");
  }
  return n;
}

/** A CPU number: a non-negative 32-bit integer. */
function parseCount(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n > 0xffff_ffff) {
    throw new InvalidValue("Expected a non-negative integer.");
  }
  return n;
}

/** The kinds of link `attach` makes (`--attach-type`). */
const LINK_KINDS = [
  "xdp",
  "tcx_ingress",
  "tcx_egress",
  "netkit_primary",
  "netkit_peer",
  "netfilter",
  "kprobe",
  "kretprobe",
  "kprobe_multi",
  "kretprobe_multi",
  "uprobe",
  "uretprobe",
  "uprobe_multi",
  "uretprobe_multi",
  "tracepoint",
  "raw_tracepoint",
  "perf_event",
  "tracing",
] as const satisfies readonly LinkKind[];

/** The cgroup attach types (`rule add --attach-type`). */
const CGROUP_ATTACH_TYPES = [
  "ingress",
  "egress",
  "sock_create",
  "sock_release",
  "post_bind4",
  "post_bind6",
  "bind4",
  "bind6",
  "connect4",
  "connect6",
  "sendmsg4",
  "sendmsg6",
  "recvmsg4",
  "recvmsg6",
  "getpeername4",
  "getpeername6",
  "getsockname4",
  "getsockname6",
  "connect_unix",
  "sendmsg_unix",
  "recvmsg_unix",
  "getpeername_unix",
  "getsockname_unix",
  "sock_ops",
  "device",
  "sysctl",
  "getsockopt",
  "setsockopt",
] as const satisfies readonly CgroupAttachType[];

const PIN_BY_NAME_ROOT = {
  type: "string",
  value: "<dir>",
  help: "where maps pinned by name go, for OBJ:NAME (default: /sys/fs/bpf)",
} as const satisfies OptionSpec;

/** `bpfx view PROG PIN`. */
export const VIEW: Leaf = leaf({
  name: "view",
  summary: "make a view of an iterator program and pin it",
  help: `PROG is a pinned iterator program, or OBJ:NAME (program NAME of the ELF
object OBJ, loaded for the view). Reading PIN runs the program (bpfx cat PIN).
The parameters must be those the program's target takes: --pid or --tid for
a task iterator, --cgroup (and --order) for a cgroup iterator, --map for a
map element iterator; none for the others.

Examples:
  bpfx view build/examples/tasks.bpf.o:tasks /sys/fs/bpf/tasks --pid 1
  bpfx view build/examples/cgstat.bpf.o:cgstat /sys/fs/bpf/all \\
    --cgroup / --order descendants-pre`,
  options: {
    pid: {
      type: "string",
      value: "<n>",
      help: "only the threads of this process",
      parse: parseTaskId,
      conflicts: ["tid", "cgroup", "map"],
    },
    tid: {
      type: "string",
      value: "<n>",
      help: "only this thread",
      parse: parseTaskId,
      conflicts: ["cgroup", "map"],
    },
    cgroup: {
      type: "string",
      value: "<path|id>",
      help:
        "the cgroup (a path, absolute or below the cgroup2 mount, or an id)",
      conflicts: ["map"],
    },
    order: {
      type: "string",
      value: "<order>",
      help: "the walk from --cgroup (default: self)",
      choices: ORDERS,
      needs: ["cgroup"],
    },
    map: { type: "string", value: "<pin>", help: "the pinned map to walk" },
    "pin-by-name-root": PIN_BY_NAME_ROOT,
  },
  args: [
    { name: "prog", help: "pinned iterator program, or OBJ:NAME" },
    { name: "pin", help: "where to pin the view (on bpffs)" },
  ],
  run: async ({ io, args: [prog, pin], opts }) => {
    const { viewCommand } = await import("./views.ts");
    return viewCommand(io, prog, pin, opts);
  },
});

/** `bpfx cat VIEW`. */
export const CAT: Leaf = leaf({
  name: "cat",
  summary: "read a view to standard output",
  help:
    `Each read runs the view's program; the output is written as it comes, the
same bytes \`cat VIEW\` gives. VIEW may be a symlink made by \`bpfx attach\`.`,
  json: "print {path, text} once the view is read",
  options: {},
  args: [{ name: "view", help: "pinned view, or a symlink to one" }],
  run: async ({ io, args: [view], opts }) => {
    const { catCommand } = await import("./views.ts");
    return await catCommand(io, view, opts);
  },
});

/** `bpfx attach PROG --to TARGET --pin PIN`. */
export const ATTACH: Leaf = leaf({
  name: "attach",
  summary: "attach a program to one target as a pinned link",
  help: `Attaches PROG (pinned, or OBJ:NAME, loaded for it) to TARGET as one BPF
link, pinned at PIN. The kind of link comes from the program's type and
section; --attach-type overrides it. TARGET by kind:
  xdp, tcx_ingress, tcx_egress  an interface (a name or an index)
  netkit_primary, netkit_peer   a netkit device
  netfilter                     [ipv4:|ipv6:]prerouting|input|forward|output|postrouting
  kprobe, kretprobe             FUNC or FUNC+OFFSET
  kprobe_multi, kretprobe_multi a glob, or F1,F2,...
  uprobe, uretprobe             PATH:SYMBOL, PATH:SYMBOL+OFFSET or PATH:0xOFFSET
  uprobe_multi, uretprobe_multi PATH:GLOB or PATH:S1,S2,...
  tracepoint                    CATEGORY:NAME
  raw_tracepoint                NAME
  perf_event                    software:NAME or hardware:NAME (cpu-clock, ...)
  tracing                       the function a fentry/fexit/lsm/tp_btf program
                                was loaded for
\`bpfx show PIN\` gives the link's target; \`bpfx unpin PIN\` detaches it. A view
or link for each cgroup of a subtree is \`bpfx rule add\`.

Examples:
  bpfx attach /sys/fs/bpf/app/xdp_filter --to eth0 --pin /sys/fs/bpf/app/eth0
  bpfx attach prog.o:count_unlink --to do_unlinkat --pin /sys/fs/bpf/unlinks
  bpfx attach prog.o:on_malloc --to /lib/x86_64-linux-gnu/libc.so.6:malloc \\
    --pin /sys/fs/bpf/mallocs`,
  json: "print the link's information as JSON",
  options: {
    to: {
      type: "string",
      value: "<target>",
      required: true,
      help: "the target to attach to (see below)",
    },
    pin: {
      type: "string",
      value: "<pin>",
      required: true,
      help: "where to pin the link (on bpffs)",
    },
    "attach-type": {
      type: "string",
      value: "<kind>",
      help: "the kind of link, when not the program's own",
      choices: LINK_KINDS,
    },
    mode: {
      type: "string",
      value: "<mode>",
      help: "xdp: the mode (default: the kernel's choice)",
      choices: ["generic", "native", "offload"],
    },
    priority: {
      type: "string",
      value: "<n>",
      help: "netfilter: the hook priority (default: 0)",
      parse: parseInt32,
    },
    pid: {
      type: "string",
      value: "<n>",
      help: "uprobe and perf_event: only this process",
      parse: parseTaskId,
    },
    cpu: {
      type: "string",
      value: "<n>",
      help: "perf_event: the CPU (default: 0, or any with --pid)",
      parse: parseCount,
    },
    period: {
      type: "string",
      value: "<n>",
      help: "perf_event: sample every N events",
      parse: parsePositive,
      conflicts: ["frequency"],
    },
    frequency: {
      type: "string",
      value: "<hz>",
      help: "perf_event: samples a second (default: 99)",
      parse: parsePositive,
    },
    "pin-by-name-root": PIN_BY_NAME_ROOT,
  },
  args: [{
    name: "prog",
    help: "pinned program, or OBJ:NAME",
  }],
  run: async ({ io, args: [prog], opts }) => {
    const { attachLinkCommand } = await import("./links.ts");
    return attachLinkCommand(io, prog, opts);
  },
});

/** `bpfx rule add PROG --cgroup-root CG --pin-root DIR --name NAME ...`. */
export const RULE_ADD: Leaf = leaf({
  name: "add",
  summary: "keep a view or link of a program for each cgroup of a subtree",
  help: `With a cgroup iterator PROG (pinned, or OBJ:NAME): pins a view for each
cgroup under --cgroup-root at <pin root>/<cgroup path>/NAME, and a symlink to
it at <expose root>/<cgroup path>/NAME (--expose-root is needed).

With a cgroup program PROG (cgroup_skb, cgroup_sock, cgroup_sock_addr,
sock_ops, cgroup_device, cgroup_sysctl, cgroup_sockopt): attaches it to each
selected cgroup as one BPF link, pinned at <pin root>/<cgroup path>/NAME (and
symlinked under --expose-root if given). The attach type is the one its
section names; --attach-type gives it for a pinned program, or overrides it.
A program on a cgroup runs for the cgroups below too, so by default only the
root gets a link; --depth 1 gives each child its own.

--depth N takes only the cgroups N levels below the root (0: the root);
--match GLOB only those whose name matches. Views and links of cgroups that
are gone or not selected are removed; running it again changes nothing. In
the pin tree, '.' in a directory name is written %2E (bpffs refuses dots)
and '%' is written %25. The rule is recorded in the state directory, which
\`bpfx watch\` keeps true: a view or link for each selected cgroup that
appears, none for those removed. A program given as OBJ:NAME is pinned at
<pin root>/%prog-NAME for it. \`bpfx rule ls\` shows each rule's cgroups;
\`bpfx rule rm\` removes the rule and what it made.

With --into-containers PATH (views only), each cgroup that holds a container
(processes in a mount namespace other than the host's) also gets its view at
PATH inside that container; \`bpfx watch\` does the same for containers
started later, forgets the exposure when the container exits, and \`bpfx
rule rm\` removes them all.

This was \`bpfx attach PROG --cgroup-root ...\`, which still works for one
release and says to type this instead.

Examples:
  bpfx rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root system.slice \\
    --pin-root /sys/fs/bpf/cgstat --expose-root /run/bpfx/cgroups --name stat
  cat /run/bpfx/cgroups/ssh.service/stat
  bpfx rule add /sys/fs/bpf/app/count_egress --attach-type egress \\
    --cgroup-root machine.slice --depth 1 --pin-root /sys/fs/bpf/egress \\
    --name egress
  bpfx rule add build/examples/cgstat.bpf.o:cgstat --cgroup-root machine.slice \\
    --pin-root /sys/fs/bpf/cgstat --expose-root /run/bpfx/cgroups --name stat \\
    --into-containers /run/bpfx/stat`,
  json: "print the full report as JSON",
  options: {
    "cgroup-root": {
      type: "string",
      value: "<cgroup>",
      required: true,
      help: "the subtree's root (a path, absolute or below the cgroup2 mount)",
    },
    "pin-root": {
      type: "string",
      value: "<dir>",
      required: true,
      help: "where to pin the views or links (on bpffs)",
    },
    name: {
      type: "string",
      value: "<name>",
      required: true,
      help: "each view's or link's file name (no '/' or '.')",
    },
    "expose-root": {
      type: "string",
      value: "<dir>",
      help:
        "where to mirror the cgroup tree (not on bpffs or cgroupfs; needed for views)",
    },
    "attach-type": {
      type: "string",
      value: "<type>",
      help: "a cgroup program's attach type, when not the program's own",
      choices: CGROUP_ATTACH_TYPES,
    },
    depth: {
      type: "string",
      value: "<n>",
      help: "only the cgroups N levels below the root (0: the root)",
      parse: parseCount,
    },
    match: {
      type: "string",
      value: "<glob>",
      help: "only the cgroups whose name matches",
    },
    "into-containers": {
      type: "string",
      value: "<path>",
      help:
        "also expose each view at PATH inside the container its cgroup holds",
    },
    "pin-by-name-root": PIN_BY_NAME_ROOT,
    state: STATE,
  },
  args: [{
    name: "prog",
    help: "pinned program, or OBJ:NAME",
  }],
  run: async ({ io, args: [prog], opts }) => {
    const { attachCommand } = await import("./views.ts");
    return await attachCommand(io, prog, opts);
  },
});

/** `bpfx rule rm --pin-root DIR`. */
export const RULE_RM: Leaf = leaf({
  name: "rm",
  summary: "remove a rule's views and links, and their symlinks",
  help:
    `The matching rules (same pin root, and --name if given) are forgotten in
the state directory once their views and links are gone, under its lock, so
that \`bpfx watch\` makes nothing meanwhile; when any cannot be removed, it
goes on with the others, fails naming each, and keeps the rules. Unpinning a
cgroup program's link detaches the program from its cgroup. When no rule
matches and there is nothing to remove, it says what it looked for and where,
and exits 1. This was \`bpfx detach\`, which still works for one release and
says to type this instead.`,
  json: "print the full report as JSON",
  options: {
    "pin-root": {
      type: "string",
      value: "<dir>",
      required: true,
      help: "the pin root given to rule add",
    },
    "expose-root": {
      type: "string",
      value: "<dir>",
      help: "the expose root given to rule add, if one was",
    },
    name: {
      type: "string",
      value: "<name>",
      help: "only the views or links of this name (default: all)",
    },
    state: STATE,
  },
  args: [],
  run: async ({ io, opts }) => {
    const { detachCommand } = await import("./views.ts");
    return await detachCommand(io, opts);
  },
});

/** `bpfx rule ls`. */
export const RULE_LS: Leaf = leaf({
  name: "ls",
  summary: "show each rule's cgroups: attached, cgroup gone, or failed and why",
  help: `For each rule of the state directory and each cgroup it selects:
STATE is attached (ID is the view's or link's id), cgroup-gone (a pin left
for a removed cgroup), not-selected (a pin for a cgroup the rule no longer
selects), failed (WHY is what rule add or the watcher last met) or missing
(nothing yet: \`bpfx watch\` attaches it). Read from the kernel and the pin
tree now. This was \`bpfx links\`, which still works for one release and
says to type this instead.`,
  json: "print the rules and their cgroups as JSON",
  options: { state: STATE },
  args: [],
  run: async ({ io, opts }) => {
    const { linksCommand } = await import("./views.ts");
    return linksCommand(io, opts);
  },
});

/** `bpfx rule add|rm|ls`: the rules over cgroup subtrees. */
export const RULE: Group = group({
  name: "rule",
  summary: "keep a view or link for each cgroup of a subtree (add, rm, ls)",
  help:
    `A rule is recorded in the state directory and kept true by \`bpfx watch\`
as cgroups come and go.`,
  commands: [RULE_ADD, RULE_RM, RULE_LS],
});
