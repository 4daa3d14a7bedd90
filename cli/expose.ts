/**
 * The exposure commands: `expose`, `unexpose` and `exposures`.
 *
 * @module
 */

import { expose, type Exposure, exposures, unexpose } from "../src/expose.ts";
import { stateDir } from "../src/state.ts";
import { type Io, pairs, printJson, table } from "./output.ts";

/** The `--state` flag every command of the state directory takes. */
export interface StateFlags {
  state?: string | undefined;
}

/** The state directory for the flags: `--state`, else `BPFX_STATE`, else `/run/bpfx`. */
export function stateOf(flags: StateFlags): string {
  return stateDir(flags.state === undefined ? {} : { state: flags.state });
}

/** One exposure as `name  value` lines. */
function describeExposure(x: Exposure): string {
  return pairs([
    ["path", x.path],
    ["mode", x.mode],
    ["pin", x.pin],
    ["kind", x.kind],
    ["id", String(x.objectId)],
    ...(x.into === undefined ? [] : [["in", where(x)] as [string, string]]),
  ]);
}

/** Where an exposure is: `host`, or a container's PID and namespace. */
function where(x: Exposure): string {
  return x.into === undefined
    ? "host"
    : `pid ${x.into.pid} mnt:[${x.into.mntNs}]`;
}

/** Flags of `bpfx expose`. */
export interface ExposeFlags extends StateFlags {
  bind?: true | undefined;
  into?: number | undefined;
  parents?: true | undefined;
  json?: true | undefined;
}

/** `bpfx expose PIN PATH [--bind]`: puts a pin at PATH and records it. */
export function exposeCommand(
  io: Io,
  pin: string,
  path: string,
  flags: ExposeFlags,
): number {
  const x = expose(pin, {
    path,
    bind: flags.bind === true,
    state: stateOf(flags),
    parents: flags.parents === true,
    ...(flags.into === undefined ? {} : { into: flags.into }),
  });
  if (flags.json) printJson(io, x);
  else io.out(describeExposure(x));
  return 0;
}

/** Flags of `bpfx unexpose`. */
export interface UnexposeFlags extends StateFlags {
  into?: number | undefined;
  json?: true | undefined;
}

/** `bpfx unexpose PATH`: removes an exposure and forgets it. */
export function unexposeCommand(
  io: Io,
  path: string,
  flags: UnexposeFlags,
): number {
  const x = unexpose(path, {
    state: stateOf(flags),
    ...(flags.into === undefined ? {} : { into: flags.into }),
  });
  if (flags.json) printJson(io, x);
  else io.out(describeExposure(x));
  if (x.leftAlone !== undefined) {
    io.err(
      `warning: forgot the exposure, but left what is at "${x.path}" alone: ${x.leftAlone}\n`,
    );
  }
  return 0;
}

/** Flags of `bpfx exposures`. */
export interface ExposuresFlags extends StateFlags {
  json?: true | undefined;
}

/** `bpfx exposures`: the recorded exposures and their state, as a table. */
export function exposuresCommand(io: Io, flags: ExposuresFlags): number {
  const state = stateOf(flags);
  const list = exposures({ state });
  if (flags.json) {
    printJson(io, list);
    return 0;
  }
  if (list.length === 0) {
    io.err(`No exposures in state directory "${state}"\n`);
    return 0;
  }
  // The IN column only when some exposure is inside a container.
  const inside = list.some((x) => x.into !== undefined);
  io.out(table(
    [
      { header: "PATH" },
      { header: "MODE" },
      { header: "PIN" },
      { header: "KIND" },
      { header: "STATE" },
      ...(inside ? [{ header: "IN" }] : []),
    ],
    list.map((x) => [
      x.path,
      x.mode,
      x.pin,
      x.kind,
      x.state,
      ...(inside ? [where(x)] : []),
    ]),
  ));
  return 0;
}
