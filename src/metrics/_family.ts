/**
 * A metric family being filled in a scrape, with its series limit; and the
 * names a family's samples take.
 *
 * @module
 */

import type { MetricFamily, MetricSample } from "./types.ts";

/** A family being filled, with its series limit. */
export class Family {
  readonly samples: MetricSample[] = [];
  /** Each series' sample index, by its labels' key. */
  readonly #series = new Map<string, number>();
  readonly #sample: string;
  dropped = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricFamily["type"],
    readonly limit: number,
  ) {
    this.#sample = type === "counter" ? `${name}_total` : name;
  }
  /** Whether the series `key` may be added (false: dropped, counted). */
  admit(key: string): boolean {
    if (this.#series.has(key)) return true;
    if (this.#series.size >= this.limit) {
      this.dropped++;
      return false;
    }
    this.#series.set(key, -1);
    return true;
  }
  /**
   * Adds `value` to the series `labels`: a new sample, or (when two entries
   * give the same labels) the sum of both.
   */
  add(labels: Record<string, string>, value: number): void {
    const key = seriesKey(labels);
    const at = this.#series.get(key);
    if (at !== undefined && at >= 0) {
      const s = this.samples[at]!;
      this.samples[at] = { ...s, value: s.value + value };
      return;
    }
    if (at === undefined && !this.admit(key)) return;
    this.#series.set(key, this.samples.length);
    this.samples.push({ name: this.#sample, labels, value });
  }
  done(): MetricFamily {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      samples: this.samples,
    };
  }
}

/** The key of a label set: its names and values, NUL between. */
export function seriesKey(labels: Record<string, string>): string {
  let k = "";
  for (const n in labels) k += `${n}\u0000${labels[n]}\u0000`;
  return k;
}
/** A counter's family name: without `_total`. */
export function baseName(name: string, type: string): string {
  return type === "counter" && name.endsWith("_total")
    ? name.slice(0, -6)
    : name;
}

/** A `key=value` key as a metric name's part. */
export function nameSafe(key: string): string {
  return key.replace(/[^a-zA-Z0-9_]/g, "_");
}
