/**
 * The commands on queues and stacks, whose elements have no keys:
 * `map push`, `map pop` and `map peek`.
 *
 * @module
 */

import { BpfNotFoundError } from "../../src/errors.ts";
import { type BpfMap, openMap } from "../../src/handles.ts";
import type { Io } from "../output.ts";
import { valueBytes } from "./_input.ts";
import { cellText, type MapFlags, Out, printer, viewOf } from "./_print.ts";

/** Flags of `bpfx map push`. */
export interface MapPushFlags extends MapFlags {
  exist?: true | undefined;
}

/** Prints one value of a queue or stack (`{"value": [...]}` with --json). */
function printValue(io: Io, map: BpfMap, value: Uint8Array, json: boolean) {
  const p = printer(map);
  if (!json) {
    io.out(`value  ${cellText(p.valueCodec, value, 0, p.valueSize)}\n`);
    return;
  }
  const out = new Out(io, true);
  out.ascii('{"value":');
  out.hexList(value, 0, value.length);
  if (p.value !== undefined) {
    out.ascii(',"formatted":{"value":');
    p.value(viewOf(value), value, 0, out);
    out.ascii("}");
  }
  out.ascii("}\n");
  out.flush();
}

/** `bpfx map push PIN VALUE [--exist]`: adds a value to a queue or stack. */
export function mapPushCommand(
  io: Io,
  pin: string,
  value: string,
  flags: MapPushFlags,
): number {
  using map = openMap(pin);
  const v = valueBytes(map, value);
  using raw = openMap<Uint8Array, Uint8Array>(pin, { raw: true });
  raw.push(v, { overwrite: flags.exist === true });
  if (flags.json) printValue(io, map, v, true);
  return 0;
}

/** `bpfx map pop|peek PIN`: the value at the front of a queue or stack. */
export function mapTakeCommand(
  io: Io,
  pin: string,
  verb: "pop" | "peek",
  flags: MapFlags,
): number {
  using map = openMap(pin);
  using raw = openMap<Uint8Array, Uint8Array>(pin, { raw: true });
  const value = verb === "pop" ? raw.pop() : raw.peek();
  if (value === undefined) {
    throw new BpfNotFoundError(
      `Cannot ${verb} ${
        verb === "pop" ? "from" : "at"
      } map "${map.name}": it is empty`,
      {
        kind: "not-found",
        op: verb === "pop"
          ? "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
          : "BPF_MAP_LOOKUP_ELEM",
        errno: 2,
        path: pin,
      },
    );
  }
  printValue(io, map, value as Uint8Array, flags.json === true);
  return 0;
}
