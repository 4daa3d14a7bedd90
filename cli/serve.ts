/**
 * `bpfx serve`: the metrics of a desired-state file's `metrics` section, and
 * bpfx's own, for Prometheus; and the server `bpfx watch --serve` runs
 * beside its watcher.
 *
 * @module
 */

import { call } from "../src/_call.ts";
import {
  MetricsCollector,
  type MetricsConfig,
  type MetricsServer,
  parseListen,
  serveMetrics,
} from "../src/metrics/mod.ts";
import { DEFAULT_LISTEN } from "../src/metrics/serve.ts";
import { type StateFlags, stateOf } from "./expose.ts";
import type { Io } from "./output.ts";

/** Flags of `bpfx serve`. */
export interface ServeFlags extends StateFlags {
  json?: true | undefined;
  listen?: string | undefined;
  config?: string | undefined;
  enableStats?: true | undefined;
}

/** The signals that stop the server cleanly. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * Reads the config (refused at start with its line and column), turns on
 * run-time stats if asked, and starts serving.
 */
export async function startServe(
  flags: Omit<ServeFlags, "json"> & {
    lag?: () => number | undefined;
    ready?: () => boolean;
  },
): Promise<MetricsServer> {
  const listen = parseListen(flags.listen ?? DEFAULT_LISTEN);
  let config: MetricsConfig = {};
  let locate = (_: readonly (string | number)[]) => "";
  if (flags.config !== undefined) {
    const { readDesired, metricsOf } = await import("../src/desired/file.ts");
    const file = readDesired(flags.config);
    config = metricsOf(file.desired);
    locate = (p) => file.locate(["metrics", ...p]);
  }
  if (flags.enableStats) call("stats_enable", {});
  const collector = new MetricsCollector(config, {
    state: stateOf(flags),
    locate,
    ...(flags.lag === undefined ? {} : { lag: flags.lag }),
  });
  return await serveMetrics(collector, {
    listen,
    ...(flags.ready === undefined ? {} : { ready: flags.ready }),
  });
}

/** The URL a server's metrics are at. */
export function metricsUrl(s: MetricsServer): string {
  const h = s.addr.hostname.includes(":")
    ? `[${s.addr.hostname}]`
    : s.addr.hostname;
  return `http://${h}:${s.addr.port}/metrics`;
}

/**
 * `bpfx serve`: serves until SIGINT or SIGTERM, or until `signal` is
 * aborted; then stops and returns 0.
 */
export async function serveCommand(
  io: Io,
  flags: ServeFlags,
  signal?: AbortSignal,
): Promise<number> {
  const server = await startServe(flags);
  const stop = () => void server.shutdown();
  for (const name of STOP_SIGNALS) Deno.addSignalListener(name, stop);
  signal?.addEventListener("abort", stop, { once: true });
  if (signal?.aborted) stop();
  try {
    if (flags.json) io.out(`${JSON.stringify({ url: metricsUrl(server) })}\n`);
    else io.err(`bpfx: serving metrics on ${metricsUrl(server)}\n`);
    await server.finished;
  } finally {
    for (const name of STOP_SIGNALS) Deno.removeSignalListener(name, stop);
    signal?.removeEventListener("abort", stop);
  }
  return 0;
}
