/**
 * The metrics server: `/metrics` in the format the scraper's `Accept`
 * header asks for, `/healthz` for probes, over `Deno.serve`.
 *
 * @module
 */

import { BpfError } from "../errors.ts";
import type { MetricsCollector } from "./collect.ts";
import { CONTENT_TYPES, formatMetrics, negotiate } from "./exposition.ts";

/**
 * bpfx's default port, 9445, on loopback. From the Prometheus wiki's
 * default port allocations, whose range 9100-9999 exporters share (see
 * docs/metrics.md for how it was picked).
 */
export const DEFAULT_METRICS_PORT = 9445;

/** The default listening address: loopback only. */
export const DEFAULT_LISTEN = `127.0.0.1:${DEFAULT_METRICS_PORT}`;

/** Where to listen: a host and a port. */
export interface ListenAddress {
  /** An IP address or host name (`[...]` taken off an IPv6 address). */
  readonly hostname: string;
  /** The port (0: any free one). */
  readonly port: number;
}

/**
 * `HOST:PORT`, `[IPV6]:PORT` or `:PORT` (loopback) as an address.
 *
 * @throws {BpfError} of kind `invalid` for anything else.
 */
export function parseListen(addr: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):([0-9]{1,5})$/.exec(addr);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw new BpfError(
      `Cannot listen on "${addr}": give HOST:PORT, [IPV6]:PORT or :PORT (such as ${DEFAULT_LISTEN})`,
      { kind: "invalid", op: "listen", errno: 22 },
    );
  }
  const host = m[1] ?? m[2] ?? "";
  return { hostname: host === "" ? "127.0.0.1" : host, port };
}

/** A running metrics server. */
export interface MetricsServer extends AsyncDisposable {
  /** Where it listens (the port chosen, when 0 was given). */
  readonly addr: ListenAddress;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops it: no new connections, the scrapes under way finish. */
  shutdown(): Promise<void>;
}

/** Options of {@linkcode serveMetrics}. */
export interface ServeMetricsOptions {
  /** Where to listen; {@linkcode DEFAULT_LISTEN} by default. */
  listen?: ListenAddress;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /**
   * Whether the process is ready (`/healthz` answers 503 until it is): a
   * watcher with a desired-state file is ready after its first apply.
   */
  ready?: () => boolean;
}

/**
 * Serves `collector`'s metrics over HTTP: `GET /metrics` reads every source
 * now (concurrent scrapes share one read) and answers in the text format
 * 0.0.4, or OpenMetrics 1.0 when `Accept` prefers it; `GET /healthz`
 * answers `ok`, or 503 until `ready()` says so. Listening has begun when it returns.
 *
 * Needs `--allow-net` for the address, and what the collector needs.
 */
export async function serveMetrics(
  collector: MetricsCollector,
  options: ServeMetricsOptions = {},
): Promise<MetricsServer> {
  const listen = options.listen ?? parseListen(DEFAULT_LISTEN);
  const { promise: listening, resolve } = Promise.withResolvers<
    ListenAddress
  >();
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    onListen: (a) =>
      resolve({
        hostname: (a as Deno.NetAddr).hostname,
        port: (a as Deno.NetAddr).port,
      }),
  }, async (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("only GET\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    if (url.pathname === "/healthz") {
      return options.ready === undefined || options.ready()
        ? new Response("ok\n")
        : new Response(
          "starting: the desired-state file is not applied yet\n",
          {
            status: 503,
          },
        );
    }
    if (url.pathname !== "/metrics") {
      return new Response("not found: try /metrics or /healthz\n", {
        status: 404,
      });
    }
    const format = negotiate(req.headers.get("accept"));
    try {
      const snap = await collector.collect();
      return new Response(formatMetrics(snap.families, format), {
        headers: { "content-type": CONTENT_TYPES[format] },
      });
    } catch (error) {
      return new Response(
        `bpfx: cannot collect the metrics: ${
          error instanceof Error ? error.message : String(error)
        }\n`,
        {
          status: 500,
        },
      );
    }
  });
  const addr = await listening;
  return {
    addr,
    finished: server.finished,
    shutdown: () => server.shutdown(),
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}
