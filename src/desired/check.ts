/**
 * The checks of a desired state that need more than its shape: names and
 * pin paths used twice, object files that are missing or not ELF, program
 * and map names an object lacks, programs of the wrong type for their
 * entry. Each error names the entry, and where the file was read, its
 * line and column ({@linkcode Locate}).
 *
 * @module
 */

import { BpfError } from "../errors.ts";
import { inspect, type ObjectSpec, type ProgramSpec } from "../objects.ts";
import { show } from "../pins.ts";
import type { MetricsConfig } from "../metrics/types.ts";
import type { DesiredKind, DesiredState } from "./types.ts";
import {
  type MapProblem,
  objectMapProblem,
  pinnedMapProblem,
} from "./map_check.ts";

/** A key path into the desired state (`["views", 2, "program"]`). */
export type NodePath = readonly (string | number)[];

/** Where a node was read: `"FILE:LINE:COLUMN: "`, or `""` when unknown. */
export type Locate = (path: NodePath) => string;

/**
 * The name apply stages a replacement under: an object's new load goes to
 * `<pinDir>/%next` before its pins are renamed into place, a view's or
 * link's new pin to `<pin>%next` (bpffs refuses `.`). The file's own pin
 * paths may not hold it.
 */
export const STAGED = "%next";

/** The lists of the file, with their kind, in the order apply makes them. */
export const LISTS = [
  ["objects", "object"],
  ["maps", "map"],
  ["views", "view"],
  ["rules", "rule"],
  ["links", "link"],
  ["exposures", "exposure"],
] as const satisfies readonly (readonly [keyof DesiredState, DesiredKind])[];

/** A program, resolved: its pin and, when an object entry loads it, its spec. */
export interface DesiredProgramRef {
  /** The program's pin. */
  readonly pin: string;
  /** The object entry that loads it, if one does. */
  readonly object?: string;
  /** Its spec in that object. */
  readonly spec?: ProgramSpec;
}

/** What the checks found: each object's spec, and each entry's program. */
export interface DesiredChecks {
  /** Each object entry's spec, by name. */
  readonly objects: ReadonlyMap<string, ObjectSpec>;
  /** Each view's, rule's and link's program, by `kind/name`. */
  readonly programs: ReadonlyMap<string, DesiredProgramRef>;
}

/** The cgroup program types (`attach()` makes a link per cgroup of them). */
const CGROUP_TYPES = new Set([
  "cgroup_skb",
  "cgroup_sock",
  "cgroup_sock_addr",
  "sock_ops",
  "cgroup_device",
  "cgroup_sysctl",
  "cgroup_sockopt",
]);

/**
 * The error of a desired state: a {@linkcode BpfError} of kind `invalid`,
 * op `validate`, whose message reads `FILE:LINE:COLUMN: ENTRY: WHAT`, with
 * each part also as a field (`line` and `column` only when the state was
 * read from a file), so a watcher can report it as data.
 */
export class DesiredError extends BpfError {
  /** `"DesiredError"`. */
  override name = "DesiredError";
  /** The file, when the state was read from one. */
  declare readonly file?: string;
  /** The line (from 1) of the node at fault, when read from a file. */
  declare readonly line?: number;
  /** Its column (from 1). */
  declare readonly column?: number;
  /** The entry at fault: `views[2] "tasks"`, or `the file`. */
  readonly entry: string;
  /** What is wrong with it. */
  readonly reason: string;

  /** Not for use: made by the checks. */
  constructor(where: string, entry: string, what: string, file?: string) {
    const init = { kind: "invalid" as const, op: "validate", errno: 22 };
    super(
      `${where}${entry}: ${what}`,
      file === undefined ? init : { ...init, path: file },
    );
    this.entry = entry;
    this.reason = what;
    if (file !== undefined) this.file = file;
    const at = /:([0-9]+):([0-9]+): $/.exec(where);
    if (at !== null) {
      this.line = Number(at[1]);
      this.column = Number(at[2]);
    }
  }
}

/** The error of a desired state (see {@linkcode DesiredError}). */
export function desiredError(
  where: string,
  entry: string,
  what: string,
  file?: string,
): DesiredError {
  return new DesiredError(where, entry, what, file);
}

/** `views[2] "tasks"`: an entry as errors name it. */
export function entryName(list: string, index: number, name: unknown): string {
  return typeof name === "string"
    ? `${list}[${index}] "${name}"`
    : `${list}[${index}]`;
}

/** Joins a bpffs directory and a name. */
export function under(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, "")}/${name}`;
}

/**
 * Runs the checks on `d` (whose shape is valid); throws the first error.
 * Reads each object file (`inspect()`), and shows each pinned program an
 * entry names by its pin.
 */
export function check(
  d: DesiredState,
  locate: Locate = () => "",
  file?: string,
): DesiredChecks {
  const fail = (path: NodePath, entry: string, what: string): never => {
    throw desiredError(locate(path), entry, what, file);
  };
  // Names within a kind, and paths across all kinds.
  const paths = new Map<string, string>();
  const claim = (path: string, at: NodePath, entry: string) => {
    const clean = path.replace(/\/+$/, "");
    if (clean.includes(STAGED)) {
      fail(
        at,
        entry,
        `pin path "${clean}" has "${STAGED}" in it, which apply keeps for what it stages: choose another name`,
      );
    }
    const other = paths.get(clean);
    if (other !== undefined) {
      fail(at, entry, `pin path "${clean}" is also ${other}'s`);
    }
    paths.set(clean, entry);
  };
  for (const [list] of LISTS) {
    const seen = new Set<string>();
    (d[list] ?? []).forEach((e, i) => {
      const entry = entryName(list, i, e.name);
      if (seen.has(e.name)) {
        fail([list, i, "name"], entry, `the name "${e.name}" is used twice`);
      }
      seen.add(e.name);
    });
  }
  const objects = new Map<string, ObjectSpec>();
  (d.objects ?? []).forEach((o, i) => {
    const entry = entryName("objects", i, o.name);
    claim(o.pinDir, ["objects", i, "pinDir"], entry);
    let spec: ObjectSpec;
    try {
      spec = inspect(o.path);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return fail(["objects", i, "path"], entry, `object file: ${why}`);
    }
    for (const [j, p] of (o.only ?? []).entries()) {
      if (!spec.programs.some((s) => s.name === p)) {
        fail(
          ["objects", i, "only", j],
          entry,
          `"${o.path}" has no program "${p}" (it has ${
            spec.programs.map((s) => s.name).join(", ")
          })`,
        );
      }
    }
    objects.set(o.name, spec);
  });
  const programs = new Map<string, DesiredProgramRef>();
  const resolve = (
    list: "views" | "rules" | "links",
    i: number,
    e: { name: string; object?: string; program: string },
  ): DesiredProgramRef => {
    const entry = entryName(list, i, e.name);
    if (e.object === undefined) {
      if (!e.program.startsWith("/")) {
        fail(
          [list, i, "program"],
          entry,
          `program "${e.program}" names no object: give "object", or the absolute path of a pinned program`,
        );
      }
      let kind: string;
      try {
        kind = show(e.program).kind;
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        return fail([list, i, "program"], entry, why);
      }
      if (kind !== "prog") {
        fail(
          [list, i, "program"],
          entry,
          `"${e.program}" is a ${kind}, not a program`,
        );
      }
      return { pin: e.program };
    }
    const o = (d.objects ?? []).find((x) => x.name === e.object);
    const spec = objects.get(e.object);
    if (o === undefined || spec === undefined) {
      return fail([list, i, "object"], entry, `no object entry "${e.object}"`);
    }
    const p = spec.programs.find((s) => s.name === e.program);
    const loaded = p !== undefined &&
      (o.only === undefined ? p.autoload : o.only.includes(p.name));
    if (p === undefined || !loaded) {
      fail(
        [list, i, "program"],
        entry,
        p === undefined
          ? `object "${e.object}" has no program "${e.program}"`
          : `object "${e.object}" does not load program "${e.program}" (add it to its "only")`,
      );
    }
    return { pin: under(o.pinDir, e.program), object: e.object, spec: p! };
  };
  (d.views ?? []).forEach((v, i) => {
    const entry = entryName("views", i, v.name);
    claim(v.pin, ["views", i, "pin"], entry);
    const ref = resolve("views", i, v);
    if (ref.spec !== undefined && ref.spec.attachType !== "trace_iter") {
      fail(
        ["views", i, "program"],
        entry,
        `program "${v.program}" is of type ${ref.spec.type} (section ${ref.spec.section}), not an iterator: a view needs an iter/ program`,
      );
    }
    programs.set(`view/${v.name}`, ref);
  });
  (d.rules ?? []).forEach((r, i) => {
    const entry = entryName("rules", i, r.name);
    claim(under(r.pinRoot, r.name), ["rules", i, "pinRoot"], entry);
    const ref = resolve("rules", i, r);
    const s = ref.spec;
    if (
      s !== undefined &&
      !(s.attachType === "trace_iter" && s.attachTo === "cgroup") &&
      !CGROUP_TYPES.has(s.type)
    ) {
      fail(
        ["rules", i, "program"],
        entry,
        `program "${r.program}" is of type ${s.type} (section ${s.section}): a rule needs a cgroup iterator (iter/cgroup) or a cgroup program`,
      );
    }
    if (s?.attachType === "trace_iter" && r.exposeRoot === undefined) {
      fail(["rules", i], entry, `a rule of views needs "exposeRoot"`);
    }
    programs.set(`rule/${r.name}`, ref);
  });
  (d.links ?? []).forEach((l, i) => {
    const entry = entryName("links", i, l.name);
    claim(l.pin, ["links", i, "pin"], entry);
    const ref = resolve("links", i, l);
    const s = ref.spec;
    if (
      s !== undefined &&
      (s.attachType === "trace_iter" || CGROUP_TYPES.has(s.type))
    ) {
      fail(
        ["links", i, "program"],
        entry,
        `program "${l.program}" is of type ${s.type} (section ${s.section}): ${
          s.attachType === "trace_iter" ? "make it a view" : "make it a rule"
        }, not a link`,
      );
    }
    programs.set(`link/${l.name}`, ref);
  });
  (d.maps ?? []).forEach((m, i) => {
    const entry = entryName("maps", i, m.name);
    const misfit = (p: MapProblem | undefined): void => {
      if (p === undefined) return;
      fail(
        ["maps", i, "entries", p.index, p.part, ...p.field],
        entry,
        `entries[${p.index}]'s ${p.part} does not fit map "${m.map}": ${p.why}`,
      );
    };
    if (m.object === undefined) {
      if (!m.map.startsWith("/")) {
        fail(
          ["maps", i, "map"],
          entry,
          `map "${m.map}" names no object: give "object", or the map's pin`,
        );
      }
      misfit(pinnedMapProblem(m.map, m));
      return;
    }
    const spec = objects.get(m.object);
    if (spec === undefined) {
      return fail(
        ["maps", i, "object"],
        entry,
        `no object entry "${m.object}"`,
      );
    }
    const ms = spec.maps.find((x) => x.name === m.map);
    if (ms === undefined) {
      return fail(
        ["maps", i, "map"],
        entry,
        `object "${m.object}" has no map "${m.map}"`,
      );
    }
    const o = (d.objects ?? []).find((x) => x.name === m.object)!;
    misfit(objectMapProblem(o.path, ms, m));
  });
  (d.exposures ?? []).forEach((x, i) => {
    const entry = entryName("exposures", i, x.name);
    claim(x.path, ["exposures", i, "path"], entry);
    if (!x.pin.startsWith("/") || !x.path.startsWith("/")) {
      fail(["exposures", i], entry, `"pin" and "path" must be absolute`);
    }
  });
  checkMetrics(d, objects, fail);
  return { objects, programs };
}

/** The references of the `metrics` section: objects, maps, views and rules. */
function checkMetrics(
  d: DesiredState,
  objects: ReadonlyMap<string, ObjectSpec>,
  fail: (path: NodePath, entry: string, what: string) => never,
): void {
  (d.metrics?.maps ?? []).forEach((m, i) => {
    const entry = entryName("metrics.maps", i, m.name);
    if (m.object === undefined) {
      if (!m.map.startsWith("/")) {
        fail(
          ["metrics", "maps", i, "map"],
          entry,
          `map "${m.map}" names no object: give "object", or the map's pin`,
        );
      }
      return;
    }
    const spec = objects.get(m.object);
    if (spec === undefined) {
      fail(
        ["metrics", "maps", i, "object"],
        entry,
        `no object entry "${m.object}"`,
      );
    }
    if (!spec.maps.some((x) => x.name === m.map)) {
      fail(
        ["metrics", "maps", i, "map"],
        entry,
        `object "${m.object}" has no map "${m.map}" (it has ${
          spec.maps.map((x) => x.name).join(", ")
        })`,
      );
    }
  });
  (d.metrics?.views ?? []).forEach((v, i) => {
    const entry = entryName("metrics.views", i, v.name);
    if (v.view !== undefined && !v.view.startsWith("/")) {
      if (!(d.views ?? []).some((x) => x.name === v.view)) {
        fail(
          ["metrics", "views", i, "view"],
          entry,
          `no views entry "${v.view}": give its name, or a view's pin`,
        );
      }
    }
    if (v.rule !== undefined && v.pinRoot === undefined) {
      const r = (d.rules ?? []).find((x) => x.name === v.rule);
      if (r === undefined) {
        fail(
          ["metrics", "views", i, "rule"],
          entry,
          `no rules entry "${v.rule}": name a rule of this file, or give "pinRoot" for one recorded by \`bpfx attach\``,
        );
      }
      if (r.exposeRoot === undefined) {
        fail(
          ["metrics", "views", i, "rule"],
          entry,
          `rule "${v.rule}" makes links, not views: it has no "exposeRoot"`,
        );
      }
    }
  });
}

/**
 * The `metrics` section of `d` as {@linkcode MetricsConfig} takes it: each
 * map as its pin (an object's maps are pinned in `<pinDir>/maps/`), each
 * views entry's name as its pin, each rule of this file with its pin root.
 */
export function metricsOf(d: DesiredState): MetricsConfig {
  const m = d.metrics ?? {};
  return {
    ...m,
    maps: (m.maps ?? []).map(({ object, ...x }) => {
      const o = (d.objects ?? []).find((e) => e.name === object);
      return o === undefined
        ? x
        : { ...x, map: under(`${o.pinDir.replace(/\/+$/, "")}/maps`, x.map) };
    }),
    views: (m.views ?? []).map((v) => {
      const view = v.view !== undefined && !v.view.startsWith("/")
        ? (d.views ?? []).find((e) => e.name === v.view)?.pin
        : v.view;
      const rule = v.rule === undefined || v.pinRoot !== undefined
        ? undefined
        : (d.rules ?? []).find((e) => e.name === v.rule);
      return {
        ...v,
        ...(view === undefined ? {} : { view }),
        ...(rule === undefined ? {} : { pinRoot: rule.pinRoot }),
      };
    }),
  };
}
