/**
 * What `bpfx serve` exports, as the `metrics` section of a desired-state
 * file declares it ({@linkcode MetricsConfig}), and what a collection gives
 * ({@linkcode MetricFamily}).
 *
 * @module
 */

/** How a label's value is read from a key field. */
export type LabelDecoder =
  | "cgroup"
  | "ifname"
  | "inet_ip"
  | "errno"
  | "syscall"
  | "ksym"
  | "string"
  | "hex"
  | "uint"
  | "static";

/** A label of a map's series, read from a field of the key. */
export interface MetricLabel {
  /** The label's name. */
  readonly name: string;
  /** The key's field (`a.b` for nested members); the whole key when left out. */
  readonly field?: string;
  /**
   * How the field becomes text: `uint` (the default), `hex`, `string`
   * (char array), `cgroup` (an id as the cgroup's path), `ifname`,
   * `inet_ip` (4 or 16 bytes), `errno`, `syscall`, `ksym` (a kernel
   * address as its function) or `static` (by `values`).
   */
  readonly decoder?: LabelDecoder;
  /** `static`: each number's name; a number not listed is shown as it is. */
  readonly values?: { readonly [value: string]: string };
}

/** How a histogram's buckets are laid out. */
export interface MetricHistogram {
  /**
   * `exp2`: bucket i holds values up to 2^i; `exp2zero`: bucket 0 holds 0,
   * bucket i up to 2^(i-1); `linear`: bucket i up to i times `multiplier`;
   * `fixed`: the bucket's index is its upper bound, out of `bounds`.
   */
  readonly buckets: "exp2" | "exp2zero" | "linear" | "fixed";
  /**
   * The key's field that holds the bucket's index (the whole key when left
   * out). With `valueArray`, the value is an array of counts instead.
   */
  readonly field?: string;
  /** Each value is an array of the buckets' counts (bucket = index). */
  readonly valueArray?: boolean;
  /** The last bucket's index; the bucket after it, if any, holds the sum. */
  readonly max: number;
  /** `linear`: the width of a bucket; others: a factor on every bound (1). */
  readonly multiplier?: number;
  /** `fixed`: the upper bounds the keys hold. */
  readonly bounds?: readonly number[];
}

/** A metric of a map: a counter, gauge or histogram per key. */
export interface MapMetric {
  /** The metric's name (a counter's ends in `_total`). */
  readonly name: string;
  /** Its help text. */
  readonly help?: string;
  /** `counter` (the default), `gauge` or `histogram`. */
  readonly type?: "counter" | "gauge" | "histogram";
  /** The object entry whose map this is; `map` then names the map. */
  readonly object?: string;
  /** The map's pin (absolute), or its name in `object`. */
  readonly map: string;
  /** The labels, from the key's fields. */
  readonly labels?: readonly MetricLabel[];
  /** The value's field (`a.b`); the whole value when left out. */
  readonly value?: string;
  /** Per-CPU maps: `sum` the CPUs' values (the default) or `split` by a `cpu` label. */
  readonly perCpu?: "sum" | "split";
  /** Histograms: the buckets. */
  readonly histogram?: MetricHistogram;
  /** At most this many series (else the section's limit). */
  readonly seriesLimit?: number;
}

/** A metric of views: one series per line, per key, or per cgroup. */
export interface ViewMetric {
  /** The metric's name, or with `key=value` lines, the prefix of each key's. */
  readonly name: string;
  /** Its help text. */
  readonly help?: string;
  /** `gauge` (the default) or `counter`. */
  readonly type?: "counter" | "gauge";
  /** A pinned view (absolute). */
  readonly view?: string;
  /** A rule of views (by name): each cgroup's view, labelled `cgroup`. */
  readonly rule?: string;
  /** With `rule`: the rule's pin root, when several rules have its name. */
  readonly pinRoot?: string;
  /**
   * A regular expression matched against each line: its named group
   * `value` is the value, `key` (optional) is added to the name, the other
   * named groups are labels. Without it, lines are `key=value`.
   */
  readonly regex?: string;
  /** Only these keys (of `key=value` lines, or the `key` group); all when left out. */
  readonly keys?: readonly string[];
  /** At most this many series (else the section's limit). */
  readonly seriesLimit?: number;
}

/** The `metrics` section of a desired-state file. */
export interface MetricsConfig {
  /** At most this many series per metric (10000 by default). */
  readonly seriesLimit?: number;
  /** Metrics of maps. */
  readonly maps?: readonly MapMetric[];
  /** Metrics of views. */
  readonly views?: readonly ViewMetric[];
}

/** One sample: a series' value at this scrape. */
export interface MetricSample {
  /** The sample's name: the family's, or with `_total`, `_bucket`, `_sum`, `_count`. */
  readonly name: string;
  /** Its labels (values valid UTF-8, not yet escaped). */
  readonly labels: Readonly<Record<string, string>>;
  /** Its value. */
  readonly value: number;
}

/** A metric and its samples, as one scrape read them. */
export interface MetricFamily {
  /** The family's name (a counter's without `_total`). */
  readonly name: string;
  /** Its help text. */
  readonly help: string;
  /** Its type; `info`: a gauge of 1 whose labels are the point. */
  readonly type: "counter" | "gauge" | "histogram" | "info";
  /** The samples. */
  readonly samples: readonly MetricSample[];
}

/** A source that could not be read in a scrape. */
export interface MetricsError {
  /** The source: `map/NAME`, `view/NAME`, `rule/NAME` or `bpfx/WHAT`. */
  readonly source: string;
  /** What went wrong. */
  readonly message: string;
}

/** What one collection read. */
export interface MetricsSnapshot {
  /** The metrics, bpfx's own last. */
  readonly families: readonly MetricFamily[];
  /** The sources that failed (each also counted in `bpfx_scrape_errors_total`). */
  readonly errors: readonly MetricsError[];
}
