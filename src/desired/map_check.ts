/**
 * The check of a desired state's configuration maps against their BTF: each
 * entry's key and value must encode as the map's key and value types, as
 * `bpfx map set` would write them. A map named by its pin is opened (when
 * it is pinned already) and checked by `BpfMap.check()`; a map of an
 * object entry is checked against the object file's own BTF (the core's
 * `object_map_btf`), before anything is loaded. Maps without BTF are not
 * checked here (`set()` still refuses a wrong size at apply).
 *
 * @module
 */

import { call } from "../_call.ts";
import { BpfError } from "../errors.ts";
import { openMap } from "../handles.ts";
import { show } from "../pins.ts";
import { compileNode, EncodeProblem, type Node } from "../codec/mod.ts";
import type { MapBtf } from "../maps/types.ts";
import type { MapSpec } from "../objects.ts";
import type { DesiredMap } from "./types.ts";

/** What does not fit: the entry's index, key or value, and why. */
export interface MapProblem {
  /** The index in `entries`. */
  readonly index: number;
  /** The part that does not fit. */
  readonly part: "key" | "value";
  /** The field at fault inside it (`["stats", "bytes"]`, `["ports", 2]`). */
  readonly field: readonly (string | number)[];
  /** Why, in words. */
  readonly why: string;
}

/** The per-CPU map types: a value is an array, one per possible CPU. */
const PER_CPU = new Set([
  "percpu_hash",
  "percpu_array",
  "lru_percpu_hash",
  "percpu_cgroup_storage",
]);

const STRICT = { lenient: false } as const;

/** `a.b[2]` (as messages name a field) as a key path: `["a", "b", 2]`. */
function fieldPath(text: string): (string | number)[] {
  return [...text.matchAll(/([^.[\]]+)|\[([0-9]+)\]/g)].map((m) =>
    m[2] === undefined ? m[1]! : Number(m[2])
  );
}

/** The field a message names (`field "a.b": ...`), as a key path. */
function fieldOf(message: string): (string | number)[] {
  const m = /field "([^"]+)"/.exec(message);
  return m === null ? [] : fieldPath(m[1]!);
}

/** Why `node` cannot encode `v` and where, or undefined when it can. */
function encodeProblem(
  node: Node,
  v: unknown,
): { why: string; field: (string | number)[] } | undefined {
  const buf = new Uint8Array(Math.max(1, node.size));
  try {
    node.enc(v, new DataView(buf.buffer), buf, 0);
    return undefined;
  } catch (e) {
    const why = `${node.label}: ${
      e instanceof EncodeProblem
        ? e.describe()
        : e instanceof Error
        ? e.message
        : String(e)
    }`;
    return { why, field: fieldOf(why) };
  }
}

/**
 * The first entry of `m` that does not fit map `spec` of `objectPath`, by
 * the object's BTF; undefined when all fit or the object gives no types.
 */
export function objectMapProblem(
  objectPath: string,
  spec: MapSpec,
  m: DesiredMap,
): MapProblem | undefined {
  const btf = call<MapBtf | null>("object_map_btf", {
    path: objectPath,
    map: spec.name,
  });
  if (btf === null) return undefined;
  const key = btf.key.size === spec.keySize && spec.keySize > 0
    ? compileNode(btf.key, STRICT)
    : undefined;
  const value = btf.value.size === spec.valueSize && spec.valueSize > 0
    ? compileNode(btf.value, STRICT)
    : undefined;
  const perCpu = PER_CPU.has(spec.type);
  for (const [index, e] of m.entries.entries()) {
    const k = key === undefined ? undefined : encodeProblem(key, e.key);
    if (k !== undefined) return { index, part: "key", ...k };
    if (value === undefined) continue;
    if (perCpu && !Array.isArray(e.value)) {
      return {
        index,
        part: "value",
        field: [],
        why:
          `${spec.name} is a ${spec.type} map: give an array of values, one per possible CPU`,
      };
    }
    const values = perCpu ? e.value as readonly unknown[] : [e.value];
    for (const [cpu, v] of values.entries()) {
      const p = encodeProblem(value, v);
      if (p === undefined) continue;
      const field = perCpu ? [cpu, ...p.field] : p.field;
      return { index, part: "value", why: p.why, field };
    }
  }
  return undefined;
}

/**
 * The first entry of `m` that does not fit the map pinned at `pin`;
 * undefined when all fit, or nothing is pinned there yet (another entry's
 * load may pin it).
 */
export function pinnedMapProblem(
  pin: string,
  m: DesiredMap,
): MapProblem | undefined {
  try {
    show(pin);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  using map = openMap(pin);
  for (const [index, e] of m.entries.entries()) {
    try {
      map.check(e.key, e.value);
    } catch (error) {
      if (!(error instanceof BpfError) || error.op !== "encode") throw error;
      const part = /^Cannot encode value /.test(error.message)
        ? "value"
        : "key";
      return {
        index,
        part,
        field: fieldOf(error.message),
        why: error.message.replace(
          /^Cannot encode (key|value) of map "[^"]*": /,
          "",
        ),
      };
    }
  }
  return undefined;
}
