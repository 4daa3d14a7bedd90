/**
 * The desired state of a host, as a file (`bpfx plan FILE`, `bpfx apply
 * FILE`) or built in TypeScript: what to load, which configuration map
 * entries to write, which views, attach rules, links and exposures to keep.
 * The JSON Schema `schema.json` beside this module describes the same
 * shape, for editors.
 *
 * A program is named by the object entry that loads it (`object: web`,
 * `program: count_egress`), or, with no `object`, by the absolute path of
 * a pinned program (`program: /sys/fs/bpf/p`).
 *
 * @module
 */

import type { CgroupAttachType, CgroupOrder } from "../types.ts";
import type { LinkKind } from "../links.ts";
import type { MetricsConfig } from "../metrics/types.ts";

/** A value as JSON (and so YAML) gives it. */
export type DesiredValue =
  | string
  | number
  | boolean
  | null
  | readonly DesiredValue[]
  | { readonly [key: string]: DesiredValue };

/** An ELF object to load, with its pins under `pinDir`. */
export interface DesiredObject {
  /** The entry's name, unique among objects. */
  readonly name: string;
  /** The object file; relative to the file's directory when read from one. */
  readonly path: string;
  /** The bpffs directory its programs and maps are pinned in. */
  readonly pinDir: string;
  /** Where maps pinned by name go (`/sys/fs/bpf` by default). */
  readonly pinByNameRoot?: string;
  /** Load only these programs. */
  readonly only?: readonly string[];
}

/** Entries to write into a map at apply time (a configuration map). */
export interface DesiredMap {
  /** The entry's name, unique among maps. */
  readonly name: string;
  /** The object entry whose map this is; the map is then named by `map`. */
  readonly object?: string;
  /** The map's name in `object`, or without `object` its pin (absolute). */
  readonly map: string;
  /** The entries, keys and values as `bpfx map set` takes them (BTF-typed JSON). */
  readonly entries: readonly {
    readonly key: DesiredValue;
    readonly value: DesiredValue;
  }[];
}

/** One view: a program's iterator link, pinned. */
export interface DesiredView {
  /** The entry's name, unique among views. */
  readonly name: string;
  /** The object entry that loads the program. */
  readonly object?: string;
  /** The program's name in `object`, or without `object` its pin. */
  readonly program: string;
  /** Where the view is pinned. */
  readonly pin: string;
  /** The iterator's parameters, as `createView()` takes them. */
  readonly target?: {
    readonly pid?: number;
    readonly tid?: number;
    readonly cgroup?: string | number;
    readonly order?: CgroupOrder;
    readonly map?: string;
  };
}

/**
 * An attach rule: a view, or a cgroup program's link, per selected cgroup
 * of a subtree (as `attach()` with `state` records it), named `name` in
 * both trees.
 */
export interface DesiredRule {
  /** The entry's name, and the file name of each view or link. */
  readonly name: string;
  /** The object entry that loads the program. */
  readonly object?: string;
  /** The program's name in `object`, or without `object` its pin. */
  readonly program: string;
  /** The subtree's root: a cgroup path. */
  readonly cgroupRoot: string;
  /** Where the views or links are pinned. */
  readonly pinRoot: string;
  /** Where the mirror of the cgroup tree goes (needed for views). */
  readonly exposeRoot?: string;
  /** A cgroup program's attach type. */
  readonly attachType?: CgroupAttachType;
  /** Only the cgroups this many levels below the root. */
  readonly depth?: number;
  /** Only the cgroups whose name matches this glob. */
  readonly match?: string;
  /** Expose each view at this path inside the containers the cgroups hold. */
  readonly intoContainers?: string;
}

/** A single-target pinned link (`attach --to`). */
export interface DesiredLink {
  /** The entry's name, unique among links. */
  readonly name: string;
  /** The object entry that loads the program. */
  readonly object?: string;
  /** The program's name in `object`, or without `object` its pin. */
  readonly program: string;
  /** The target, as `attachLink()` takes it. */
  readonly to: string;
  /** Where the link is pinned. */
  readonly pin: string;
  /** The kind of link, when the program does not say it. */
  readonly attachType?: LinkKind;
  /** xdp: the mode. */
  readonly mode?: "generic" | "native" | "offload";
  /** netfilter: the priority. */
  readonly priority?: number;
  /** uprobe, perf_event: only this process. */
  readonly pid?: number;
  /** perf_event: the CPU. */
  readonly cpu?: number;
  /** perf_event: sample every `period` events. */
  readonly period?: number;
  /** perf_event: sample `frequency` times a second. */
  readonly frequency?: number;
}

/** A pin put at a path outside bpffs. */
export interface DesiredExposure {
  /** The entry's name, unique among exposures. */
  readonly name: string;
  /** The pin (absolute). */
  readonly pin: string;
  /** Where to expose it (absolute). */
  readonly path: string;
  /** A symlink (the default) or a bind mount. */
  readonly mode?: "symlink" | "bind";
}

/** A host's whole bpfx set-up. */
export interface DesiredState {
  /** The format's version: 1. */
  readonly version?: 1;
  /**
   * The file's name in the manifest: what apply made is recorded under it,
   * and only what it made is ever removed.
   */
  readonly name: string;
  /** Objects to load. */
  readonly objects?: readonly DesiredObject[];
  /** Configuration map entries. */
  readonly maps?: readonly DesiredMap[];
  /** Views. */
  readonly views?: readonly DesiredView[];
  /** Attach rules. */
  readonly rules?: readonly DesiredRule[];
  /** Single-target links. */
  readonly links?: readonly DesiredLink[];
  /** Exposures. */
  readonly exposures?: readonly DesiredExposure[];
  /**
   * What `bpfx serve` exports: a map is named by its pin or by `object`
   * and its name there, a view by its pin or a views entry's name, a rule
   * by a rules entry's name.
   */
  readonly metrics?: MetricsConfig;
}

/** The kinds of entry, in the order apply makes them. */
export type DesiredKind =
  | "object"
  | "map"
  | "view"
  | "rule"
  | "link"
  | "exposure";

/** What plan would do, or apply did, to one entry. */
export type DesiredActionKind =
  | "create"
  | "replace"
  | "keep"
  | "remove"
  | "left-alone";

/** One action of a plan, with why. */
export interface DesiredAction {
  /** Create, replace, keep, remove, or a thing not ours, left alone. */
  readonly action: DesiredActionKind;
  /** The entry's kind. */
  readonly kind: DesiredKind;
  /** The entry's name. */
  readonly name: string;
  /** Why. */
  readonly why: string;
}

/** What `plan()` found, or what `apply()` did. */
export interface DesiredPlan {
  /** The file's name in the manifest. */
  readonly name: string;
  /** Each entry's action, in the order apply takes them. */
  readonly actions: readonly DesiredAction[];
  /** Whether anything would change (or changed). */
  readonly changes: boolean;
}
