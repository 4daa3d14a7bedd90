/**
 * The link mode of `attach`: `bpfx attach PROG --to TARGET --pin PIN`.
 *
 * @module
 */

import {
  attachLink,
  type AttachLinkOptions,
  type LinkKind,
} from "../src/links.ts";
import { type Io, printJson } from "./output.ts";
import { bpftoolShape, describe } from "./pins.ts";

/** Flags of `bpfx attach --to`. */
export interface AttachLinkFlags {
  to: string;
  pin: string;
  attachType?: LinkKind | undefined;
  mode?: "generic" | "native" | "offload" | undefined;
  priority?: number | undefined;
  pid?: number | undefined;
  cpu?: number | undefined;
  period?: number | undefined;
  frequency?: number | undefined;
  pinByNameRoot?: string | undefined;
  json?: true | undefined;
}

const LINK_FLAGS = [
  "to",
  "pin",
  "attachType",
  "mode",
  "priority",
  "pid",
  "cpu",
  "period",
  "frequency",
  "pinByNameRoot",
] as const satisfies readonly (keyof AttachLinkOptions)[];

/**
 * `bpfx attach PROG --to TARGET --pin PIN [...]`: makes the link, pins it,
 * and prints it as `show` does (`--json`: the link's information).
 */
export function attachLinkCommand(
  io: Io,
  prog: string,
  flags: AttachLinkFlags,
): number {
  // Only the link's flags, and those given (the API's options are exact).
  const options = Object.fromEntries(
    LINK_FLAGS.filter((key) => flags[key] !== undefined).map((
      key,
    ) => [key, flags[key]]),
  ) as unknown as AttachLinkOptions;
  const info = attachLink(prog, options);
  if (flags.json) printJson(io, bpftoolShape(info));
  else io.out(describe(info));
  return 0;
}
