/**
 * The exposition formats: Prometheus's text format 0.0.4 and OpenMetrics
 * 1.0, chosen by a scraper's `Accept` header ({@linkcode negotiate}).
 *
 * A small writer of its own rather than a package: `prom-client` keeps
 * long-lived metric objects fed by `observe()` and `inc()`, and has no way
 * to expose a histogram whose buckets were counted elsewhere (in a BPF
 * map), nor a series limit; it also leans on Node's `cluster` and
 * `perf_hooks`. What bpfx needs of a library is only the two formats'
 * escaping and layout, which is this file.
 *
 * @module
 */

import type { MetricFamily } from "./types.ts";

/** An exposition format. */
export type ExpositionFormat = "text" | "openmetrics";

/** The content type of each format. */
export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  text: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/** The format an `Accept` header asks for: OpenMetrics when preferred. */
export function negotiate(accept: string | null): ExpositionFormat {
  if (accept === null) return "text";
  let om = -1;
  let text = -1;
  for (const part of accept.split(",")) {
    const [type, ...params] = part.trim().split(";").map((s) => s.trim());
    const qp = params.find((p) => p.startsWith("q="));
    const q = qp === undefined ? 1 : Number(qp.slice(2));
    const version = params.find((p) => p.startsWith("version="))?.slice(8);
    if (type === "application/openmetrics-text") {
      if (
        version === undefined || version.startsWith("1.") || version === "0.0.1"
      ) {
        om = Math.max(om, q);
      }
    } else if (type === "text/plain" || type === "*/*") {
      text = Math.max(text, q);
    }
  }
  return om > 0 && om >= text ? "openmetrics" : "text";
}

const NEEDS_ESCAPE = /[\\"\n]/;

/** A label value escaped: `\`, `"` and newline. */
export function escapeLabel(v: string): string {
  if (!NEEDS_ESCAPE.test(v)) return v;
  return v.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function escapeHelp(v: string, format: ExpositionFormat): string {
  const re = format === "openmetrics" ? /[\\"\n]/g : /[\\\n]/g;
  return v.replace(re, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** The families in `format`: the body of a `/metrics` reply. */
export function formatMetrics(
  families: readonly MetricFamily[],
  format: ExpositionFormat,
): string {
  const out: string[] = [];
  for (const f of families) {
    let name = f.name;
    let type: string = f.type;
    if (format === "text") {
      if (f.type === "counter") name = `${f.name}_total`;
      if (f.type === "info") [name, type] = [`${f.name}_info`, "gauge"];
    }
    out.push(`# HELP ${name} ${escapeHelp(f.help, format)}`);
    out.push(`# TYPE ${name} ${type}`);
    for (const s of f.samples) {
      let ls = "";
      for (const k in s.labels) {
        ls += `${ls === "" ? "{" : ","}${k}="${escapeLabel(s.labels[k]!)}"`;
      }
      out.push(`${s.name}${ls === "" ? "" : `${ls}}`} ${num(s.value)}`);
    }
  }
  if (format === "openmetrics") out.push("# EOF");
  return `${out.join("\n")}\n`;
}
