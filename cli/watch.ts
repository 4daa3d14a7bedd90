/**
 * The watcher command: `watch`, the daemon that keeps a state directory's
 * manifest true.
 *
 * @module
 */

import { watch, type WatchAction } from "../src/watch.ts";
import { type StateFlags, stateOf } from "./expose.ts";
import { type Io, jsonLine } from "./output.ts";

/** Flags of `bpfx watch`. */
export interface WatchFlags extends StateFlags {
  json?: true | undefined;
  /** `--serve ADDR`: serve metrics in the same process. */
  serve?: string | undefined;
}

/** The signals that stop the watcher cleanly. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * One action as a text line: the time, the action, its subjects as
 * `key="value"`, and why.
 */
export function actionLine(a: WatchAction): string {
  const fields: string[] = [];
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
 * directory, the manifest is corrupt) is an error.
 */
export async function watchCommand(
  io: Io,
  flags: WatchFlags,
  signal?: AbortSignal,
): Promise<number> {
  const watcher = watch({ state: stateOf(flags) });
  // With --serve, the metrics server runs beside the watcher: its lag is
  // how long the last action took to reach this loop after it was made.
  let lag: number | undefined;
  const server = flags.serve === undefined ? undefined : await (async () => {
    const { startServe, metricsUrl } = await import("./serve.ts");
    const config = (flags as { config?: string }).config;
    try {
      const s = await startServe({
        listen: flags.serve,
        ...(config === undefined ? {} : { config }),
        ...(flags.state === undefined ? {} : { state: flags.state }),
        lag: () => lag,
      });
      io.err(`bpfx: serving metrics on ${metricsUrl(s)}\n`);
      return s;
    } catch (error) {
      await watcher[Symbol.asyncDispose]();
      throw error;
    }
  })();
  const stop = () => watcher.close();
  for (const name of STOP_SIGNALS) Deno.addSignalListener(name, stop);
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
    signal?.removeEventListener("abort", stop);
    try {
      await watcher[Symbol.asyncDispose]();
    } finally {
      await server?.shutdown();
    }
  }
  return 0;
}
