/**
 * The sources of a collection, prepared once from a {@linkcode MetricsConfig}
 * and the kernel (each map's BTF fields found, each decoder checked against
 * its field, each regular expression compiled), so that a bad config is
 * refused at start, naming the entry.
 *
 * @module
 */

import { BpfError } from "../errors.ts";
import { openMap } from "../handles.ts";
import { show } from "../pins.ts";
import type { BtfType } from "../codec/mod.ts";
import {
  checkDecoder,
  checkValue,
  type Field,
  fieldOf,
  FieldProblem,
} from "./_fields.ts";
import type {
  LabelDecoder,
  MapMetric,
  MetricHistogram,
  MetricsConfig,
  ViewMetric,
} from "./types.ts";

/** A key path into the `metrics` section (`["maps", 0, "labels", 1, "field"]`). */
export type MetricsPath = readonly (string | number)[];

/** Where a node of the `metrics` section was read (`"FILE:L:C: "`), or `""`. */
export type MetricsLocate = (path: MetricsPath) => string;

/** The default limit of series per metric. */
export const DEFAULT_SERIES_LIMIT = 10000;

/** A label, its field found. */
export interface PreparedLabel {
  readonly name: string;
  readonly field: Field;
  readonly decoder: LabelDecoder;
  readonly values: Readonly<Record<string, string>>;
}

/** A map metric, its fields found in the map's BTF. */
export interface PreparedMap {
  readonly metric: MapMetric;
  readonly pin: string;
  readonly limit: number;
  /** The map's id when prepared: a new map at the pin is prepared again. */
  readonly id: number;
  readonly labels: readonly PreparedLabel[];
  /** The value's field (one CPU's, for per-CPU maps; an element's with valueArray). */
  readonly value: Field;
  /** Histograms: the bucket index's field (absent with valueArray). */
  readonly bucket?: Field;
  /** Histograms with valueArray: the number of buckets in the array. */
  readonly arrayLen?: number;
}

/** A view metric, its regular expression compiled. */
export interface PreparedView {
  readonly metric: ViewMetric;
  readonly limit: number;
  readonly regex?: RegExp;
}

/** What a collection reads. */
export interface PreparedSources {
  readonly maps: readonly PreparedMap[];
  readonly views: readonly PreparedView[];
}

/** The error of a bad metrics config: kind `invalid`, op `validate`. */
export function metricsError(where: string, what: string): BpfError {
  return new BpfError(`${where}${what}`, {
    kind: "invalid",
    op: "validate",
    errno: 22,
  });
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The map metric `m` prepared against the map pinned at `m.map`. */
export function prepareMap(
  m: MapMetric,
  limit: number,
  fail: (path: MetricsPath, what: string) => never,
): PreparedMap {
  if (!m.map.startsWith("/")) {
    fail(["map"], `map "${m.map}" must be the map's pin (an absolute path)`);
  }
  let map;
  try {
    map = openMap(m.map, { raw: true });
  } catch (error) {
    return fail(
      ["map"],
      error instanceof Error ? error.message : String(error),
    );
  }
  try {
    const btf = map.btf();
    if (btf === null) {
      fail(["map"], `map "${m.map}" has no BTF: its fields cannot be named`);
    }
    const field = (t: BtfType, path: string | undefined, at: MetricsPath) => {
      try {
        return fieldOf(t, path);
      } catch (e) {
        if (e instanceof FieldProblem) {
          return fail(at, `map "${m.map}": ${e.message}`);
        }
        throw e;
      }
    };
    const labels = (m.labels ?? []).map((l, j): PreparedLabel => {
      const f = field(btf!.key, l.field, ["labels", j, "field"]);
      const decoder = l.decoder ?? "uint";
      try {
        checkDecoder(decoder, f);
      } catch (e) {
        if (e instanceof FieldProblem) {
          fail(["labels", j, "decoder"], `map "${m.map}": ${e.message}`);
        }
        throw e;
      }
      if (decoder === "static" && l.values === undefined) {
        fail(["labels", j], `decoder "static" needs "values"`);
      }
      if (!LABEL.test(l.name) || l.name.startsWith("__")) {
        fail(["labels", j, "name"], `"${l.name}" is not a label name`);
      }
      return { name: l.name, field: f, decoder, values: l.values ?? {} };
    });
    const names = new Set(labels.map((l) => l.name));
    if (names.size !== labels.length) {
      fail(["labels"], "a label name is used twice");
    }
    if (m.perCpu === "split" && names.has("cpu")) {
      fail(
        ["perCpu"],
        `"split" adds the label "cpu": no other label may be named so`,
      );
    }
    const h = m.histogram;
    const type = m.type ?? "counter";
    if ((type === "histogram") !== (h !== undefined)) {
      fail(
        h === undefined ? [] : ["histogram"],
        h === undefined
          ? `a histogram needs "histogram" (its buckets)`
          : `"histogram" is for metrics of type histogram`,
      );
    }
    if (h !== undefined && names.has("le")) {
      fail(["labels"], `a histogram's labels may not hold "le"`);
    }
    let value = field(btf!.value, m.value, ["value"]);
    let bucket: Field | undefined;
    let arrayLen: number | undefined;
    if (h !== undefined) {
      checkHistogram(h, fail);
      if (h.valueArray) {
        if (value.type.kind !== "array") {
          fail(
            ["histogram", "valueArray"],
            `the value's field is ${value.type.kind}, not an array of counts`,
          );
        }
        const t = value.type as Extract<BtfType, { kind: "array" }>;
        arrayLen = t.len;
        value = {
          path: `${value.path}[]`,
          offset: value.offset,
          size: t.elem.size,
          type: t.elem,
        };
      } else {
        bucket = field(btf!.key, h.field, ["histogram", "field"]);
        try {
          checkDecoder("uint", bucket);
        } catch (e) {
          if (e instanceof FieldProblem) {
            fail(
              ["histogram", "field"],
              `map "${m.map}": the bucket's ${
                e.message.replace(/^decoder "uint" needs/, "field needs")
              }`,
            );
          }
          throw e;
        }
      }
    }
    try {
      checkValue(value);
    } catch (e) {
      if (e instanceof FieldProblem) {
        fail(["value"], `map "${m.map}": ${e.message}`);
      }
      throw e;
    }
    return {
      metric: m,
      pin: m.map,
      limit,
      id: map.id,
      labels,
      value,
      ...(bucket === undefined ? {} : { bucket }),
      ...(arrayLen === undefined ? {} : { arrayLen }),
    };
  } finally {
    map.close();
  }
}

function checkHistogram(
  h: MetricHistogram,
  fail: (path: MetricsPath, what: string) => never,
): void {
  if (h.buckets === "fixed") {
    const b = h.bounds ?? [];
    if (b.length === 0) fail(["histogram"], `"fixed" buckets need "bounds"`);
    if (b.some((x, i) => i > 0 && x <= b[i - 1]!)) {
      fail(["histogram", "bounds"], `"bounds" must increase`);
    }
  }
}

/** The view metric `v` prepared: its pin checked, its regex compiled. */
export function prepareView(
  v: ViewMetric,
  limit: number,
  fail: (path: MetricsPath, what: string) => never,
): PreparedView {
  if ((v.view === undefined) === (v.rule === undefined)) {
    fail(
      [],
      `give "view" (a pinned view) or "rule" (a rule of views), not ${
        v.view === undefined ? "neither" : "both"
      }`,
    );
  }
  if (v.view !== undefined) {
    let kind: string;
    try {
      kind = show(v.view).kind;
    } catch (error) {
      return fail(
        ["view"],
        error instanceof Error ? error.message : String(error),
      );
    }
    if (kind !== "link") fail(["view"], `"${v.view}" is a ${kind}, not a view`);
  }
  let regex: RegExp | undefined;
  if (v.regex !== undefined) {
    try {
      regex = new RegExp(v.regex);
    } catch (e) {
      fail(["regex"], `not a regular expression: ${(e as Error).message}`);
    }
    const groups = [...v.regex.matchAll(/\(\?<([a-zA-Z_][a-zA-Z0-9_]*)>/g)].map(
      (m) => m[1]!,
    );
    if (!groups.includes("value")) {
      fail(
        ["regex"],
        `the regular expression needs a group named "value": (?<value>...)`,
      );
    }
    for (const g of groups) {
      if (g === "cgroup" && v.rule !== undefined) {
        fail(
          ["regex"],
          `the group "cgroup" would hide the rule's label "cgroup"`,
        );
      }
    }
  }
  return { metric: v, limit, ...(regex === undefined ? {} : { regex }) };
}

/**
 * Prepares every source of `config`; throws the first problem, where
 * `locate` can place it (`FILE:LINE:COLUMN: maps[0] "name": ...`).
 */
export function prepare(
  config: MetricsConfig,
  locate: MetricsLocate = () => "",
): PreparedSources {
  const limit = config.seriesLimit ?? DEFAULT_SERIES_LIMIT;
  const seen = new Set<string>();
  const failer =
    (list: "maps" | "views", i: number, name: string) =>
    (path: MetricsPath, what: string): never => {
      throw metricsError(
        locate([list, i, ...path]),
        `metrics.${list}[${i}] "${name}": ${what}`,
      );
    };
  const claim = (list: "maps" | "views", i: number, name: string) => {
    if (!NAME.test(name)) {
      failer(list, i, name)(
        ["name"],
        `"${name}" is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`,
      );
    }
    if (name.startsWith("bpfx_")) {
      failer(list, i, name)(
        ["name"],
        `names beginning "bpfx_" are bpfx's own metrics`,
      );
    }
    if (seen.has(name)) {
      failer(list, i, name)(["name"], `the metric "${name}" is declared twice`);
    }
    seen.add(name);
  };
  const maps = (config.maps ?? []).map((m, i) => {
    claim("maps", i, m.name);
    return prepareMap(m, m.seriesLimit ?? limit, failer("maps", i, m.name));
  });
  const views = (config.views ?? []).map((v, i) => {
    claim("views", i, v.name);
    return prepareView(v, v.seriesLimit ?? limit, failer("views", i, v.name));
  });
  return { maps, views };
}
