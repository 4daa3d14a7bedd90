/**
 * The watcher command: `watch`, the daemon that keeps a state directory's
 * manifest true.
 *
 * @module
 */

import { watch, type WatchAction } from "../src/watch.ts";
import type { ConfigWatchEvent } from "../src/desired/watch.ts";
import { type StateFlags, stateOf } from "./expose.ts";
import { type Io, jsonLine } from "./output.ts";

/** Flags of `bpfx watch`. */
export interface WatchFlags extends StateFlags {
  json?: true | undefined;
  config?: string | undefined;
  /** `--serve ADDR`: serve metrics in the same process. */
  serve?: string | undefined;
}

/** The signals that stop the watcher cleanly. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * One action as a text line: the time, the action, its subjects as
 * `key="value"`, and why.
 */
export function actionLine(a: WatchAction | ConfigWatchEvent): string {
  const fields: string[] = [];
  if ("file" in a) {
    const at = a.line === undefined ? "" : `:${a.line}:${a.column}`;
    fields.push(`file=${JSON.stringify(`${a.file}${at}`)}`);
    if (a.entry !== undefined) fields.push(`entry=${JSON.stringify(a.entry)}`);
    return `${new Date(a.time).toISOString()} ${a.action} ${
      fields.join(" ")
    }: ${a.why}\n`;
  }
  if (a.cgroup !== undefined) {
    fields.push(`cgroup=${JSON.stringify(a.cgroup === "" ? "." : a.cgroup)}`);
  }
  if (a.path !== undefined) fields.push(`path=${JSON.stringify(a.path)}`);
  if (a.pin !== undefined) fields.push(`pin=${JSON.stringify(a.pin)}`);
  const subject = fields.length === 0 ? "" : ` ${fields.join(" ")}`;
  return `${new Date(a.time).toISOString()} ${a.action}${subject}: ${a.why}\n`;
}

/**
 * `bpfx watch`: runs the watcher of the state directory and prints one line
 * per action (with `--json`, one JSON object per line) until SIGINT or
 * SIGTERM, or until `signal` is aborted; then it closes the watcher and
 * returns 0. A watcher that cannot start (another one holds the state
 * directory, the manifest is corrupt) is an error. With `--config FILE`,
 * the watcher also keeps that desired-state file applied, and SIGHUP
 * applies it again.
 */
export async function watchCommand(
  io: Io,
  flags: WatchFlags,
  signal?: AbortSignal,
): Promise<number> {
  const watcher = flags.config === undefined
    ? watch({ state: stateOf(flags) })
    : (await import("../src/desired/watch.ts")).watchConfig(flags.config, {
      state: stateOf(flags),
    });
  // With --serve, the metrics server runs beside the watcher: its lag is
  // how long the last action took to reach this loop after it was made.
  let lag: number | undefined;
  const server = flags.serve === undefined ? undefined : await (async () => {
    const { startServe, metricsUrl } = await import("./serve.ts");
    const config = flags.config;
    try {
      const s = await startServe({
        listen: flags.serve,
        ...(config === undefined ? {} : { config }),
        ...(flags.state === undefined ? {} : { state: flags.state }),
        lag: () => lag,
        // With --config, /healthz is ready once the file is first applied.
        ready: () => !("ready" in watcher) || watcher.ready,
      });
      io.err(`bpfx: serving metrics on ${metricsUrl(s)}\n`);
      return s;
    } catch (error) {
      await watcher[Symbol.asyncDispose]();
      throw error;
    }
  })();
  const stop = () => watcher.close();
  const reload = "reload" in watcher ? () => watcher.reload() : undefined;
  for (const name of STOP_SIGNALS) Deno.addSignalListener(name, stop);
  if (reload !== undefined) Deno.addSignalListener("SIGHUP", reload);
  signal?.addEventListener("abort", stop, { once: true });
  if (signal?.aborted) stop();
  try {
    for await (const action of watcher) {
      lag = Math.max(0, Date.now() - action.time) / 1000;
      io.out(
        flags.json ? `${jsonLine(action)}\n` : actionLine(action),
      );
    }
  } finally {
    for (const name of STOP_SIGNALS) Deno.removeSignalListener(name, stop);
    if (reload !== undefined) Deno.removeSignalListener("SIGHUP", reload);
    signal?.removeEventListener("abort", stop);
    try {
      await watcher[Symbol.asyncDispose]();
    } finally {
      await server?.shutdown();
    }
  }
  return 0;
}
