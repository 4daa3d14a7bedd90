/**
 * The view and cgroup rule commands: `view`, `cat`, `rule add`, `rule rm`
 * and `rule ls`.
 *
 * @module
 */

import {
  attach,
  type AttachOptions,
  type AttachReport,
  type CgroupOrder,
  createView,
  detach,
  type DetachOptions,
  type DetachReport,
  openView,
  type ProgressCallback,
  type ViewOptions,
  type ViewPin,
} from "../src/views.ts";
import { attachStatus, type CgroupAttachType } from "../src/cgroup_links.ts";
import { BpfNotFoundError } from "../src/errors.ts";
import { type StateFlags, stateOf } from "./expose.ts";
import { drawProgress, type Io, pairs, printJson, table } from "./output.ts";
import { bpftoolShape, describe } from "./pins.ts";

/** Flags of `bpfx view`. */
export interface ViewFlags {
  pid?: number | undefined;
  tid?: number | undefined;
  cgroup?: string | undefined;
  order?: CgroupOrder | undefined;
  map?: string | undefined;
  pinByNameRoot?: string | undefined;
  json?: true | undefined;
}

/**
 * The options of {@linkcode createView} for the flags. The CLI does not know
 * the program's target: the flags pick the shape, and the core refuses a
 * parameter the program's target does not take.
 */
function viewOptions(pin: string, flags: ViewFlags): ViewOptions {
  const base: ViewPin = { pin };
  if (flags.pinByNameRoot !== undefined) {
    base.pinByNameRoot = flags.pinByNameRoot;
  }
  if (flags.cgroup !== undefined) {
    return flags.order === undefined
      ? { ...base, target: "cgroup", cgroup: flags.cgroup }
      : { ...base, target: "cgroup", cgroup: flags.cgroup, order: flags.order };
  }
  if (flags.map !== undefined) {
    return { ...base, target: "bpf_map_elem", map: flags.map };
  }
  if (flags.pid !== undefined) return { ...base, pid: flags.pid };
  if (flags.tid !== undefined) return { ...base, tid: flags.tid };
  return base;
}

/** `bpfx view PROG PIN [params]`: makes and pins one view. */
export function viewCommand(
  io: Io,
  prog: string,
  pin: string,
  flags: ViewFlags,
): number {
  const info = createView(prog, viewOptions(pin, flags));
  if (flags.json) printJson(io, bpftoolShape(info));
  else io.out(describe(info));
  return 0;
}

/** Flags of `bpfx cat`. */
export interface CatFlags {
  json?: true | undefined;
}

/** The size of `cat`'s buffer: more than seq_file gives per read. */
const CAT_BUFFER = 64 * 1024;

/**
 * `bpfx cat VIEW`: reads a view to standard output, each chunk written as
 * it arrives. A read that fails after others keeps what they gave on
 * standard output, and the error follows (exit 1). With `--json`:
 * `{path, text}` once the view is read.
 */
export async function catCommand(
  io: Io,
  view: string,
  flags: CatFlags,
): Promise<number> {
  using reader = openView(view);
  if (flags.json) {
    printJson(io, { path: view, text: await reader.text() });
    return 0;
  }
  const buffer = new Uint8Array(CAT_BUFFER);
  const decoder = new TextDecoder();
  const write = io.write?.bind(io) ??
    ((bytes: Uint8Array) => io.out(decoder.decode(bytes, { stream: true })));
  try {
    for (;;) {
      const n = await reader.read(buffer);
      if (n === null) break;
      write(buffer.subarray(0, n));
    }
  } finally {
    // What was read stays written when a later read fails, as with cat(1):
    // the caller then reports the error and exits 1.
    if (io.write === undefined) {
      const tail = decoder.decode();
      if (tail !== "") io.out(tail);
    }
  }
  return 0;
}

/**
 * A progress line on standard error, redrawn in place, when standard error
 * is a terminal and the output is not JSON; otherwise nothing.
 */
function progressLine(
  io: Io,
  json: boolean,
  verb: string,
): { update?: ProgressCallback; clear(): void } {
  if (json || io.errIsTerminal !== true) return { clear() {} };
  let drawn = false;
  return {
    update(done, total) {
      drawn = true;
      drawProgress(io, `\r${verb} ${done}/${total}\x1b[K`);
    },
    clear() {
      if (drawn) drawProgress(io, "\r\x1b[K");
    },
  };
}

/** A cgroup's relative path as shown: `.` for the root. */
function shown(cgroup: string): string {
  return cgroup === "" ? "." : cgroup;
}

/** The summary `attach` prints. */
function attachSummary(report: AttachReport): string {
  return pairs([
    ["cgroups", String(report.cgroups)],
    ["made", String(report.made.length)],
    ["kept", String(report.kept.length)],
    ["removed", String(report.removed.length)],
    ["skipped", String(report.skipped.length)],
    ...(report.into === undefined
      ? []
      : [["in containers", String(report.into.length)] as [string, string]]),
  ]) +
    report.skipped.map((s) => `skipped "${shown(s.cgroup)}": ${s.why}\n`)
      .join("");
}

/** Flags of `bpfx rule add`. */
export interface AttachFlags extends StateFlags {
  cgroupRoot: string;
  pinRoot: string;
  exposeRoot?: string | undefined;
  name: string;
  attachType?: CgroupAttachType | undefined;
  depth?: number | undefined;
  match?: string | undefined;
  pinByNameRoot?: string | undefined;
  intoContainers?: string | undefined;
  json?: true | undefined;
}

/**
 * `bpfx rule add PROG --cgroup-root CG --pin-root DIR [--expose-root DIR]
 * --name NAME [--depth N] [--match GLOB] [--attach-type T]`: makes the
 * views or links and records the rule in the state directory.
 */
export async function attachCommand(
  io: Io,
  prog: string,
  flags: AttachFlags,
): Promise<number> {
  const progress = progressLine(io, flags.json === true, "attaching");
  const options: AttachOptions = {
    cgroupRoot: flags.cgroupRoot,
    pinRoot: flags.pinRoot,
    name: flags.name,
    state: stateOf(flags),
  };
  for (
    const key of [
      "exposeRoot",
      "attachType",
      "depth",
      "match",
      "pinByNameRoot",
    ] as const
  ) {
    if (flags[key] !== undefined) Object.assign(options, { [key]: flags[key] });
  }
  if (flags.intoContainers !== undefined) {
    options.intoContainers = flags.intoContainers;
  }
  if (progress.update !== undefined) options.onProgress = progress.update;
  let report: AttachReport;
  try {
    report = await attach(prog, options);
  } finally {
    progress.clear();
  }
  if (flags.json) printJson(io, report);
  else io.out(attachSummary(report));
  return 0;
}

/** Flags of `bpfx rule rm`. */
export interface DetachFlags extends StateFlags {
  pinRoot: string;
  exposeRoot?: string | undefined;
  name?: string | undefined;
  json?: true | undefined;
}

/** A rule's identity: what `detach` matches it by. */
function ruleKeys(state: string): Set<string> {
  return new Set(
    attachStatus({ state }).map((r) => JSON.stringify([r.pinRoot, r.name])),
  );
}

/**
 * `bpfx rule rm --pin-root DIR [--expose-root DIR] [--name NAME]`: forgets
 * the matching rules in the state directory and removes the views and links.
 * When no rule was forgotten and nothing removed, fails (`not-found`),
 * naming what it looked for and where: a mistyped pin root is no success.
 */
export async function detachCommand(
  io: Io,
  flags: DetachFlags,
): Promise<number> {
  const progress = progressLine(io, flags.json === true, "detaching");
  const state = stateOf(flags);
  const options: DetachOptions = { pinRoot: flags.pinRoot, state };
  // The rules before and after say whether one was forgotten (the report
  // lists what was removed only); a rule another command adds meanwhile is
  // in both, so it counts for nothing.
  const before = ruleKeys(state);
  if (flags.exposeRoot !== undefined) options.exposeRoot = flags.exposeRoot;
  if (flags.name !== undefined) options.name = flags.name;
  if (progress.update !== undefined) options.onProgress = progress.update;
  let report: DetachReport;
  try {
    report = await detach(options);
  } finally {
    progress.clear();
  }
  if (report.removed.length === 0) {
    const after = ruleKeys(state);
    if ([...before].every((key) => after.has(key))) {
      const what = flags.name === undefined
        ? "no view or link"
        : `no view or link named "${flags.name}"`;
      throw new BpfNotFoundError(
        `Nothing to remove: ${what} under pin root "${flags.pinRoot}", and no rule for it in state directory "${state}"`,
        {
          kind: "not-found",
          op: "detach",
          path: flags.pinRoot,
          hint:
            `\`bpfx rule ls --state ${state}\` lists the rules with their pin roots and names`,
        },
      );
    }
  }
  if (flags.json) printJson(io, report);
  else io.out(pairs([["removed", String(report.removed.length)]]));
  return 0;
}

/** Flags of `bpfx links`. */
export interface LinksFlags extends StateFlags {
  json?: true | undefined;
}

/**
 * `bpfx links`: each attach rule of the state directory and each cgroup it
 * selects, as a table: attached (with the view's or link's id), cgroup
 * gone, not selected, failed (and why) or missing.
 */
export function linksCommand(io: Io, flags: LinksFlags): number {
  const state = stateOf(flags);
  const rules = attachStatus({ state });
  if (flags.json) {
    printJson(io, rules);
    return 0;
  }
  if (rules.length === 0) {
    io.err(`No attach rules in state directory "${state}"\n`);
    return 0;
  }
  const rows = rules.flatMap((r) =>
    r.entries.map((e) => [
      r.name,
      r.kind === "link" ? r.attachType ?? "" : "view",
      `${r.cgroupRoot}/${e.cgroup}`.replace(/\/$/, ""),
      e.state,
      e.linkId === undefined ? "" : String(e.linkId),
      e.why ?? "",
    ])
  );
  io.out(table(
    [
      { header: "RULE" },
      { header: "TYPE" },
      { header: "CGROUP" },
      { header: "STATE" },
      { header: "ID", align: "right" },
      { header: "WHY" },
    ],
    rows,
  ));
  return 0;
}
