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
  readonly #series = new Set<string>();
  dropped = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricFamily["type"],
    readonly limit: number,
  ) {}
  /** Whether the series `labels` may be added (false: dropped, counted). */
  admit(key: string): boolean {
    if (this.#series.has(key)) return true;
    if (this.#series.size >= this.limit) {
      this.dropped++;
      return false;
    }
    this.#series.add(key);
    return true;
  }
  add(labels: Record<string, string>, value: number): void {
    if (!this.admit(seriesKey(labels))) return;
    this.samples.push({
      name: this.type === "counter" ? `${this.name}_total` : this.name,
      labels,
      value,
    });
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

export function seriesKey(labels: Record<string, string>): string {
  return JSON.stringify(labels);
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
