/**
 * Metrics for Prometheus: maps, views and rules of views as counters,
 * gauges and histograms ({@linkcode collectMetrics}, the data), the text
 * and OpenMetrics formats ({@linkcode formatMetrics}), and a server
 * ({@linkcode serveMetrics}, behind `bpfx serve`). docs/metrics.md tells
 * the config's shape.
 *
 * @module
 */

export type * from "./types.ts";
export {
  collectMetrics,
  type CollectOptions,
  MetricsCollector,
} from "./collect.ts";
export {
  CONTENT_TYPES,
  escapeLabel,
  type ExpositionFormat,
  formatMetrics,
  negotiate,
} from "./exposition.ts";
export {
  DEFAULT_LISTEN,
  DEFAULT_METRICS_PORT,
  type ListenAddress,
  type MetricsServer,
  parseListen,
  serveMetrics,
  type ServeMetricsOptions,
} from "./serve.ts";
export type { MetricsLocate, MetricsPath } from "./_sources.ts";
