/**
 * `map watch`: the records of a ring buffer as they come.
 *
 * @module
 */

import { openRingBuf } from "../../src/maps/mod.ts";
import type { Io } from "../output.ts";
import { hexText, type MapFlags } from "./_print.ts";

/** The signals that stop `map watch` cleanly. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const;

/**
 * `bpfx map watch PIN`: a ring buffer's records as they come, one line each
 * (`<size> bytes: <hex>`; with `--json`, `{"size": n, "data": "<hex>"}`),
 * until SIGINT or SIGTERM, or until `signal` is aborted.
 */
export async function mapWatchCommand(
  io: Io,
  pin: string,
  flags: MapFlags,
  signal?: AbortSignal,
): Promise<number> {
  const ring = openRingBuf(pin);
  const stop = () => ring.close();
  for (const name of STOP_SIGNALS) Deno.addSignalListener(name, stop);
  signal?.addEventListener("abort", stop, { once: true });
  if (signal?.aborted) stop();
  try {
    for await (const record of ring) {
      const hex = hexText(record).replaceAll(" ", "");
      io.out(
        flags.json
          ? `{"size":${record.length},"data":"${hex}"}\n`
          : `${record.length} bytes: ${hexText(record)}\n`,
      );
    }
  } finally {
    for (const name of STOP_SIGNALS) Deno.removeSignalListener(name, stop);
    signal?.removeEventListener("abort", stop);
    await ring[Symbol.asyncDispose]();
  }
  return 0;
}
