/**
 * A collection: each map, view and rule of a {@linkcode MetricsConfig} read
 * now, with bpfx's own metrics, as data ({@linkcode MetricsSnapshot}).
 * {@linkcode MetricsCollector} keeps what lasts between scrapes (the
 * prepared sources, the error counts, name tables) and shares one read
 * among concurrent scrapes; {@linkcode collectMetrics} is one collection.
 *
 * @module
 */

import { call, callNonblocking } from "../_call.ts";
import { VERSION } from "../_version.ts";
import { attachStatus, type RuleStatus } from "../cgroup_links.ts";
import type { StateOptions } from "../state.ts";
import { Decoders } from "./_decoders.ts";
import { baseName, Family, nameSafe } from "./_family.ts";
import { readMap } from "./_map_read.ts";
import {
  type MetricsLocate,
  prepare,
  type PreparedMap,
  type PreparedSources,
  type PreparedView,
} from "./_sources.ts";
import type {
  MetricFamily,
  MetricsConfig,
  MetricsError,
  MetricsSnapshot,
} from "./types.ts";

/** Options of a collection. */
export interface CollectOptions extends StateOptions {
  /** A scrape's deadline in milliseconds (10000): a source still reading then is an error. */
  deadlineMs?: number;
  /** Calls that read a rule's views at once, each a share of them (4). */
  concurrency?: number;
  /** The watcher's lag in seconds, when a watcher runs in this process. */
  lag?: () => number | undefined;
  /** Where config nodes were read, for errors at start. */
  locate?: MetricsLocate;
}

class Timeout extends Error {}

/** A view's text, or why it could not be read (op `views_read`). */
interface ViewText {
  readonly text?: string;
  readonly error?: string;
}

/**
 * Collects the metrics of a config, scrape after scrape: see the module
 * doc. Made with the config's sources prepared (a bad one throws).
 */
export class MetricsCollector {
  readonly #sources: { maps: PreparedMap[]; views: readonly PreparedView[] };
  readonly #options: CollectOptions;
  readonly #errorsTotal = new Map<string, number>();
  readonly #pending = new Map<string, Promise<ViewText[]>>();
  #inflight: Promise<MetricsSnapshot> | undefined;
  readonly #decoders = new Decoders();
  // Per scrape:
  #status: RuleStatus[] | undefined;

  /**
   * Prepares `config`'s sources: opens each map and finds its fields, checks
   * each view pin and regular expression.
   *
   * @throws {BpfError} of kind `invalid` (op `validate`) for a map that is
   * not pinned or lacks BTF, a field its BTF lacks, a decoder that does not
   * fit its field, a view pin that is no view, a bad regular expression.
   */
  constructor(config: MetricsConfig, options: CollectOptions = {}) {
    const p: PreparedSources = prepare(config, options.locate);
    this.#sources = { maps: [...p.maps], views: p.views };
    this.#options = options;
  }

  /** Reads every source now; concurrent calls share one read. */
  collect(): Promise<MetricsSnapshot> {
    this.#inflight ??= this.#collect().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #collect(): Promise<MetricsSnapshot> {
    const start = performance.now();
    const deadline = start + (this.#options.deadlineMs ?? 10000);
    this.#decoders.newScrape();
    this.#status = undefined;
    const families: MetricFamily[] = [];
    const errors: MetricsError[] = [];
    const dropped: [string, number][] = [];
    const fail = (source: string, error: unknown) => {
      errors.push({
        source,
        message: error instanceof Error ? error.message : String(error),
      });
    };
    const finish = (f: Family) => {
      families.push(f.done());
      if (f.dropped > 0) dropped.push([f.name, f.dropped]);
    };
    this.#sources.maps.forEach((pm, i) => {
      try {
        for (
          const f of readMap(pm, this.#decoders, (p) => {
            this.#sources.maps[i] = p;
          })
        ) finish(f);
      } catch (error) {
        fail(`map/${pm.metric.name}`, error);
      }
    });
    for (const pv of this.#sources.views) {
      try {
        for (const f of await this.#readViews(pv, deadline, fail)) finish(f);
      } catch (error) {
        fail(
          `${pv.metric.rule === undefined ? "view" : "rule"}/${pv.metric.name}`,
          error,
        );
      }
    }
    const own = this.#own(fail);
    for (const e of errors) {
      this.#errorsTotal.set(
        e.source,
        (this.#errorsTotal.get(e.source) ?? 0) + 1,
      );
    }
    const gauge = (
      name: string,
      help: string,
      type: MetricFamily["type"] = "gauge",
    ) => new Family(name, help, type, Infinity);
    const drops = gauge(
      "bpfx_series_dropped",
      "Series dropped in this scrape past a metric's series limit",
    );
    for (const [metric, n] of dropped) drops.add({ metric }, n);
    const errs = gauge(
      "bpfx_scrape_errors",
      "Sources that could not be read, counted per scrape since start",
      "counter",
    );
    for (const [source, n] of this.#errorsTotal) errs.add({ source }, n);
    const dur = gauge(
      "bpfx_scrape_duration_seconds",
      "How long this scrape's reads took",
    );
    dur.add({}, (performance.now() - start) / 1000);
    const info = gauge("bpfx_build", "bpfx's version", "info");
    info.samples.push({
      name: "bpfx_build_info",
      labels: { version: VERSION },
      value: 1,
    });
    families.push(...own, drops.done(), errs.done(), dur.done(), info.done());
    return { families, errors };
  }

  // --- views ------------------------------------------------------------

  async #readViews(
    pv: PreparedView,
    deadline: number,
    fail: (source: string, error: unknown) => void,
  ): Promise<Family[]> {
    const v = pv.metric;
    const type = v.type ?? "gauge";
    const families = new Map<string, Family>();
    const keys = v.keys === undefined ? undefined : new Set(v.keys);
    const familyOf = (suffix: string | undefined) => {
      if (keys !== undefined && (suffix === undefined || !keys.has(suffix))) {
        return undefined;
      }
      const name = suffix === undefined
        ? v.name
        : `${v.name}_${nameSafe(suffix)}`;
      let f = families.get(name);
      if (f === undefined) {
        f = new Family(
          baseName(name, type),
          v.help ?? `bpfx view ${v.view ?? `rule ${v.rule}`}`,
          type,
          pv.limit,
        );
        families.set(name, f);
      }
      return f;
    };
    const take = (text: string, base: Record<string, string>) => {
      for (const line of text.split("\n")) {
        if (line === "") continue;
        if (pv.regex !== undefined) {
          const g = pv.regex.exec(line)?.groups;
          if (g === undefined || g.value === undefined) continue;
          const value = Number(g.value);
          if (!Number.isFinite(value) && !/^[+-]?Inf$|^NaN$/.test(g.value)) {
            continue;
          }
          const labels: Record<string, string> = { ...base };
          for (const [k, x] of Object.entries(g)) {
            if (k !== "value" && k !== "key" && x !== undefined) labels[k] = x;
          }
          familyOf(g.key)?.add(labels, value);
        } else {
          const eq = line.indexOf("=");
          if (eq <= 0) continue;
          const s = line.slice(eq + 1).trim();
          if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) continue;
          familyOf(line.slice(0, eq).trim())?.add({ ...base }, Number(s));
        }
      }
    };
    if (v.view !== undefined) {
      const [r] = await this.#read(`view/${v.name}`, [v.view], deadline);
      if (r?.error !== undefined) throw new Error(r.error);
      take(r?.text ?? "", {});
      return [...families.values()];
    }
    const rule = this.#rule(v.rule!, v.pinRoot);
    const entries = rule.entries.filter((e) =>
      e.state === "attached" && e.pin !== undefined
    );
    const label = this.#ruleLabels(rule);
    // The views in a few batches, each one call on Deno's thread pool: a
    // view that hangs holds up its batch, not the others nor the scrape.
    const batches = Math.min(this.#options.concurrency ?? 4, entries.length);
    const size = Math.ceil(entries.length / Math.max(batches, 1));
    await Promise.all(
      Array.from({ length: batches }, async (_, b) => {
        const part = entries.slice(b * size, (b + 1) * size);
        let texts: ViewText[];
        try {
          texts = await this.#read(
            `rule/${v.name}#${b}`,
            part.map((e) => e.pin!),
            deadline,
          );
        } catch (error) {
          return fail(`rule/${v.name}`, error);
        }
        texts.forEach((r, i) => {
          const e = part[i]!;
          if (r.error !== undefined) fail(`rule/${v.name}`, new Error(r.error));
          else take(r.text ?? "", { cgroup: label(e.cgroupId, e.cgroup) });
        });
      }),
    );
    return [...families.values()];
  }

  /** The rule `name` (at `pinRoot`, if given) of the state directory. */
  #rule(name: string, pinRoot: string | undefined): RuleStatus {
    this.#status ??= attachStatus(
      this.#options.state === undefined ? {} : { state: this.#options.state },
    );
    const found = this.#status.filter((r) =>
      r.name === name &&
      (pinRoot === undefined ||
        r.pinRoot.replace(/\/+$/, "") === pinRoot.replace(/\/+$/, ""))
    );
    if (found.length !== 1) {
      throw new Error(
        found.length === 0
          ? `no rule "${name}"${
            pinRoot === undefined ? "" : ` at "${pinRoot}"`
          } in the state directory: apply the file, or run \`bpfx attach\``
          : `${found.length} rules are named "${name}": give "pinRoot"`,
      );
    }
    return found[0]!;
  }

  /** A rule's cgroup label: its path below the rule's root, as the id's path. */
  #ruleLabels(rule: RuleStatus): (id: number, fallback: string) => string {
    // The status names each cgroup as text, which is the name itself when
    // it is UTF-8; a name that is not (U+FFFD in it) or holds `%` is taken
    // from the cgroup tree by id instead, escaped so it can be undone.
    let t: ReturnType<Decoders["cgroupTable"]> | undefined;
    let rootRel: string | undefined;
    return (id, fallback) => {
      if (!fallback.includes("\uFFFD") && !fallback.includes("%")) {
        return fallback;
      }
      if (t === undefined) {
        t = this.#decoders.cgroupTable();
        rootRel = rule.cgroupRoot.startsWith(t.root)
          ? rule.cgroupRoot.slice(t.root.length).replace(/\/+$/, "")
          : undefined;
      }
      const p = rootRel === undefined ? undefined : t.byId.get(BigInt(id));
      if (
        p === undefined ||
        !(p === rootRel || p.startsWith(`${rootRel}/`) || rootRel === "")
      ) {
        return fallback;
      }
      return p.slice(rootRel!.length).replace(/^\//, "");
    };
  }

  /**
   * The texts of views `pins` (one call on the thread pool, `views_read`),
   * read before `deadline`. A read of `key` still running from an earlier
   * scrape is not started again (Deno cannot cancel it): its views are an
   * error until it ends.
   */
  async #read(
    key: string,
    pins: readonly string[],
    deadline: number,
  ): Promise<ViewText[]> {
    const what = pins.length === 1
      ? `view "${pins[0]}"`
      : `${pins.length} views`;
    if (this.#pending.has(key)) {
      throw new Error(`${what}: still being read by an earlier scrape`);
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      throw new Timeout(
        `${what}: the scrape's deadline passed before the read`,
      );
    }
    const p = callNonblocking<ViewText[]>("views_read", { paths: pins });
    this.#pending.set(key, p);
    p.then(() => this.#pending.delete(key), () => this.#pending.delete(key));
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Timeout(`${what}: not read by the scrape's deadline`)),
            left,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  // --- bpfx itself --------------------------------------------------------

  #own(fail: (source: string, error: unknown) => void): MetricFamily[] {
    const out: MetricFamily[] = [];
    try {
      const h = call<{
        progs: {
          id: number;
          name: string;
          type: string;
          runTimeNs: number;
          runCnt: number;
        }[];
        maps: { type: string }[];
        links: { type: string }[];
      }>("host_objects", {});
      for (
        const [kind, list] of [["programs", h.progs], ["maps", h.maps], [
          "links",
          h.links,
        ]] as const
      ) {
        const f = new Family(
          `bpfx_${kind}`,
          `The ${kind} on the host, by type`,
          "gauge",
          Infinity,
        );
        const by = new Map<string, number>();
        for (const o of list) by.set(o.type, (by.get(o.type) ?? 0) + 1);
        for (const [type, n] of [...by].sort()) f.add({ type }, n);
        out.push(f.done());
      }
      const runs = new Family(
        "bpfx_program_runs",
        "Each program's runs (counted while kernel.bpf_stats_enabled or --enable-stats is on)",
        "counter",
        Infinity,
      );
      const time = new Family(
        "bpfx_program_run_seconds",
        "Each program's run time (counted while kernel.bpf_stats_enabled or --enable-stats is on)",
        "counter",
        Infinity,
      );
      for (const p of h.progs) {
        const labels = { id: String(p.id), name: p.name, type: p.type };
        runs.add(labels, p.runCnt);
        time.add(labels, p.runTimeNs / 1e9);
      }
      out.push(runs.done(), time.done());
    } catch (error) {
      fail("bpfx/objects", error);
    }
    try {
      this.#status ??= attachStatus(
        this.#options.state === undefined ? {} : { state: this.#options.state },
      );
      const f = new Family(
        "bpfx_rule_cgroups",
        "Each rule's cgroups, by state",
        "gauge",
        Infinity,
      );
      for (const r of this.#status) {
        const by = new Map<string, number>();
        for (const e of r.entries) by.set(e.state, (by.get(e.state) ?? 0) + 1);
        for (
          const state of [
            "attached",
            "failed",
            "cgroup-gone",
            "missing",
            "not-selected",
          ]
        ) {
          f.add(
            { rule: r.name, pin_root: r.pinRoot, state },
            by.get(state) ?? 0,
          );
        }
      }
      out.push(f.done());
    } catch (error) {
      fail("bpfx/rules", error);
    }
    const lag = this.#options.lag?.();
    if (lag !== undefined) {
      const f = new Family(
        "bpfx_watcher_lag_seconds",
        "How far the watcher is behind the events it was given",
        "gauge",
        Infinity,
      );
      f.add({}, lag);
      out.push(f.done());
    }
    return out;
  }
}

/**
 * Reads the metrics of `config` once: its maps, views and rules now, and
 * bpfx's own. A source that fails is in `errors`, and the rest is read.
 *
 * Needs `--allow-ffi`, `--allow-env=BPFX_STATE` to honour that variable,
 * and root (CAP_BPF and CAP_SYS_ADMIN, to read maps and list objects).
 *
 * @example The egress counter of a rule's cgroups
 * ```ts ignore
 * import { collectMetrics } from "./mod.ts";
 * const { families } = await collectMetrics({
 *   maps: [{
 *     name: "egress_packets_total",
 *     map: "/sys/fs/bpf/app/maps/egress_hits",
 *     labels: [{ name: "cgroup", decoder: "cgroup" }],
 *   }],
 * });
 * for (const s of families[0]!.samples) console.log(s.labels.cgroup, s.value);
 * ```
 *
 * @throws {BpfError} of kind `invalid` for a config that does not fit the
 * kernel's maps and views (see {@linkcode MetricsCollector}).
 */
export async function collectMetrics(
  config: MetricsConfig,
  options: CollectOptions = {},
): Promise<MetricsSnapshot> {
  return await new MetricsCollector(config, options).collect();
}
