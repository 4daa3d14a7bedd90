/**
 * One map metric read: each entry's labels decoded from its key, its value
 * summed over the CPUs or split by them, or its bucket counted into a
 * histogram.
 *
 * @module
 */

import { openMap } from "../handles.ts";
import { perCpuStride } from "../maps/per_cpu.ts";
import { readBig, readNumber } from "./_fields.ts";
import type { Decoders } from "./_decoders.ts";
import { baseName, Family, seriesKey } from "./_family.ts";
import { type PreparedMap, prepareMap } from "./_sources.ts";
import type { MapMetric } from "./types.ts";

/**
 * Reads map metric `pm`; a new map pinned at its path is prepared again and
 * given to `renew`.
 */
export function readMap(
  pm: PreparedMap,
  decoders: Decoders,
  renew: (pm: PreparedMap) => void,
): Family[] {
  const m = pm.metric;
  const type = m.type ?? "counter";
  const map = openMap(pm.pin, { raw: true });
  try {
    if (map.id !== pm.id) {
      // Another map is pinned there now: find its fields again.
      map.close();
      pm = prepareMap(m, pm.limit, (_p, what) => {
        throw new Error(what);
      });
      renew(pm);
      return readMap(pm, decoders, renew);
    }
    const meta = map.meta;
    const cpus = meta.perCpu ? meta.cpus : 1;
    const stride = meta.perCpu ? perCpuStride(meta.valueSize) : 0;
    const split = meta.perCpu && m.perCpu === "split";
    const fam = new Family(
      baseName(m.name, type),
      m.help ?? `bpfx map ${pm.pin}`,
      type,
      pm.limit,
    );
    const hist = new Map<
      string,
      { labels: Record<string, string>; counts: number[]; sum?: number }
    >();
    for (const c of map.chunks()) {
      const kdv = new DataView(
        c.keys.buffer,
        c.keys.byteOffset,
        c.keys.byteLength,
      );
      const vdv = new DataView(
        c.values.buffer,
        c.values.byteOffset,
        c.values.byteLength,
      );
      for (let i = 0; i < c.count; i++) {
        const kb = i * c.keySize;
        const vb = i * c.valueSize;
        const labels: Record<string, string> = {};
        for (const l of pm.labels) {
          labels[l.name] = decoders.decode(l, kdv, c.keys, kb);
        }
        if (m.histogram !== undefined) {
          for (let cpu = 0; cpu < cpus; cpu++) {
            const ls = split ? { ...labels, cpu: String(cpu) } : labels;
            const key = seriesKey(ls);
            let h = hist.get(key);
            if (h === undefined) {
              if (!fam.admit(key)) continue;
              h = { labels: ls, counts: [] };
              hist.set(key, h);
            }
            const base = vb + cpu * stride;
            if (pm.arrayLen !== undefined) {
              for (let b = 0; b < pm.arrayLen; b++) {
                const v = readNumber(vdv, base + b * pm.value.size, pm.value);
                addBucket(h, b, v, m.histogram.max);
              }
            } else {
              const b = Number(readBig(kdv, kb, pm.bucket!));
              addBucket(
                h,
                bucketIndex(pm, b),
                readNumber(vdv, base, pm.value),
                m.histogram.max,
              );
            }
          }
          continue;
        }
        if (split) {
          for (let cpu = 0; cpu < cpus; cpu++) {
            fam.add(
              { ...labels, cpu: String(cpu) },
              readNumber(vdv, vb + cpu * stride, pm.value),
            );
          }
        } else {
          let v = 0;
          for (let cpu = 0; cpu < cpus; cpu++) {
            v += readNumber(vdv, vb + cpu * stride, pm.value);
          }
          fam.add(labels, v);
        }
      }
    }
    if (m.histogram !== undefined) {
      const bounds = boundsOf(m.histogram);
      const mult = m.histogram.multiplier ?? 1;
      for (const h of hist.values()) {
        let total = 0;
        bounds.forEach((le, b) => {
          total += h.counts[b] ?? 0;
          fam.samples.push({
            name: `${fam.name}_bucket`,
            labels: { ...h.labels, le: String(le) },
            value: total,
          });
        });
        fam.samples.push({
          name: `${fam.name}_bucket`,
          labels: { ...h.labels, le: "+Inf" },
          value: total,
        });
        if (h.sum !== undefined) {
          fam.samples.push({
            name: `${fam.name}_sum`,
            labels: h.labels,
            value: h.sum * mult,
          });
        }
        fam.samples.push({
          name: `${fam.name}_count`,
          labels: h.labels,
          value: total,
        });
      }
    }
    return [fam];
  } finally {
    map.close();
  }
}

/** A fixed histogram's key holds a bound: its bucket is the bound's index. */
function bucketIndex(pm: PreparedMap, b: number): number {
  const h = pm.metric.histogram!;
  if (h.buckets !== "fixed") return b;
  const i = (h.bounds ?? []).indexOf(b);
  return i < 0 ? h.max + 2 : i;
}

function addBucket(
  h: { counts: number[]; sum?: number },
  b: number,
  v: number,
  max: number,
): void {
  if (b >= 0 && b <= max) h.counts[b] = (h.counts[b] ?? 0) + v;
  else if (b === max + 1) h.sum = (h.sum ?? 0) + v;
}

/** The upper bound of each bucket 0..max. */
function boundsOf(
  h: NonNullable<MapMetric["histogram"]>,
): number[] {
  const mult = h.multiplier ?? 1;
  if (h.buckets === "fixed") return (h.bounds ?? []).map((b) => b * mult);
  return Array.from({ length: h.max + 1 }, (_, i) => {
    switch (h.buckets) {
      case "exp2":
        return 2 ** i * mult;
      case "exp2zero":
        return i === 0 ? 0 : 2 ** (i - 1) * mult;
      default:
        return i * mult;
    }
  });
}
