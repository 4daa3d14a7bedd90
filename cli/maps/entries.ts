/**
 * The commands on a map's entries by key: `map dump` (every entry, streamed
 * a batch at a time), `map get`, `map set` and `map delete`.
 *
 * @module
 */

import { BpfError, BpfNotFoundError } from "../../src/errors.ts";
import { type BpfMap, openMap } from "../../src/handles.ts";
import type { Io } from "../output.ts";
import { keyOf, refuseUnkeyed, valueBytes } from "./_input.ts";
import {
  B,
  cellText,
  type MapFlags,
  Out,
  printer,
  valueText,
  viewOf,
  writeEntry,
} from "./_print.ts";

/** Flags of `bpfx map set`. */
export interface MapSetFlags extends MapFlags {
  noexist?: true | undefined;
  exist?: true | undefined;
}

/** One batch of entries to print; `errors[i]` is the errno of a value that could not be read. */
interface DumpChunk {
  readonly count: number;
  readonly keys: Uint8Array;
  readonly values: Uint8Array;
  readonly keySize: number;
  readonly valueSize: number;
  readonly errors?: readonly number[];
}

/** What strerror(3) says, as bpftool prints it for a value it cannot read. */
function strerror(errno: number): string {
  const known: Record<number, string> = {
    1: "Operation not permitted",
    2: "No such file or directory",
    13: "Permission denied",
    14: "Bad address",
    22: "Invalid argument",
    95: "Operation not supported",
  };
  return known[errno] ?? `Unknown error ${errno}`;
}

/**
 * The map's entries in batches. Maps whose values cannot be read from user
 * space (perf event arrays, XSK maps, ...) give their keys, each with the
 * errno of its lookup, as bpftool shows them.
 */
async function* dumpChunks(map: BpfMap): AsyncGenerator<DumpChunk> {
  let yielded = false;
  try {
    for await (const c of map.chunks()) {
      yielded = true;
      yield c;
    }
    return;
  } catch (error) {
    const unreadable = error instanceof BpfError &&
      error.op === "BPF_MAP_LOOKUP_ELEM" && error.errno !== 2;
    if (yielded || !unreadable) throw error;
  }
  const { keySize, valueBufSize } = map.meta;
  using raw = openMap<Uint8Array, Uint8Array>(map.path ?? "", { raw: true });
  const value = new Uint8Array(valueBufSize);
  const group = 4096;
  let keys = new Uint8Array(group * keySize);
  let values = new Uint8Array(group * valueBufSize);
  let errors: number[] = [];
  let n = 0;
  for (const key of raw.keys()) {
    let errno = 0;
    try {
      if (!raw.getInto(key, value)) continue; // deleted meanwhile
    } catch (error) {
      if (!(error instanceof BpfError) || error.errno === 0) throw error;
      errno = error.errno;
    }
    keys.set(key, n * keySize);
    if (errno === 0) values.set(value, n * valueBufSize);
    errors.push(errno);
    if (++n === group) {
      yield {
        count: n,
        keys,
        values,
        keySize,
        valueSize: valueBufSize,
        errors,
      };
      keys = new Uint8Array(group * keySize);
      values = new Uint8Array(group * valueBufSize);
      errors = [];
      n = 0;
    }
  }
  if (n > 0) {
    yield { count: n, keys, values, keySize, valueSize: valueBufSize, errors };
  }
}

/**
 * `bpfx map dump PIN`: every entry, streamed: a table (a header, then one
 * line per entry), or with `--json` bpftool's JSON array.
 */
export async function mapDumpCommand(
  io: Io,
  pin: string,
  flags: MapFlags,
): Promise<number> {
  using map = openMap(pin);
  refuseUnkeyed(map, "dump");
  const p = printer(map);
  const out = new Out(io);
  if (flags.json) {
    let first = true;
    out.ascii("[");
    for await (const c of dumpChunks(map)) {
      const kdv = new DataView(
        c.keys.buffer,
        c.keys.byteOffset,
        c.keys.byteLength,
      );
      const vdv = new DataView(
        c.values.buffer,
        c.values.byteOffset,
        c.values.byteLength,
      );
      const errors = c.errors;
      for (let i = 0; i < c.count; i++) {
        out.ascii(first ? "\n" : ",\n");
        first = false;
        const errno = errors?.[i] ?? 0;
        if (errno !== 0) {
          out.put(B.key);
          out.hexList(c.keys, i * c.keySize, c.keySize);
          out.ascii(',"value":{"error":');
          out.text(JSON.stringify(strerror(errno)));
          out.ascii("}}");
          continue;
        }
        writeEntry(
          p,
          out,
          kdv,
          c.keys,
          i * c.keySize,
          vdv,
          c.values,
          i * c.valueSize,
        );
      }
      out.flush();
    }
    out.ascii(first ? "]\n" : "\n]\n");
    out.flush();
    return 0;
  }
  // A table whose key column is as wide as the widest key of the first batch.
  let width = -1;
  let count = 0;
  for await (const c of dumpChunks(map)) {
    const rows: [string, string][] = [];
    for (let i = 0; i < c.count; i++) {
      const errno = c.errors?.[i] ?? 0;
      rows.push([
        cellText(p.keyCodec, c.keys, i * c.keySize, c.keySize),
        errno !== 0
          ? `error: ${strerror(errno)}`
          : valueText(p, c.values, i * c.valueSize),
      ]);
    }
    if (width < 0) {
      width = Math.max(3, ...rows.map(([k]) => k.length));
      out.text(`${"KEY".padEnd(width)}  VALUE\n`);
    }
    for (const [k, v] of rows) {
      out.text(`${k.padEnd(width)}  ${v}`.trimEnd() + "\n");
    }
    count += c.count;
    out.flush();
  }
  if (width < 0) io.err(`Map "${map.name}" is empty\n`);
  else io.err(`${count} ${count === 1 ? "entry" : "entries"}\n`);
  return 0;
}

/** `bpfx map get PIN KEY`: one entry. */
export function mapGetCommand(
  io: Io,
  pin: string,
  key: string,
  flags: MapFlags,
): number {
  using map = openMap(pin);
  const k = keyOf(map, "look up a key in", key);
  const value = new Uint8Array(map.meta.valueBufSize);
  if (!map.getInto(k, value)) {
    throw new BpfNotFoundError(
      `Cannot look up key ${map.keyText(k)} in map "${map.name}": no such key`,
      { kind: "not-found", op: "BPF_MAP_LOOKUP_ELEM", errno: 2, path: pin },
    );
  }
  printEntry(io, map, k, value, flags);
  return 0;
}

function printEntry(
  io: Io,
  map: BpfMap,
  key: Uint8Array,
  value: Uint8Array,
  flags: MapFlags,
): void {
  const p = printer(map);
  if (flags.json) {
    const out = new Out(io, true);
    writeEntry(
      p,
      out,
      viewOf(key),
      key,
      0,
      viewOf(value),
      value,
      0,
    );
    out.ascii("\n");
    out.flush();
    return;
  }
  let text = `key    ${cellText(p.keyCodec, key, 0, p.keySize)}\n`;
  if (!p.perCpu) {
    text += `value  ${cellText(p.valueCodec, value, 0, p.valueSize)}\n`;
  } else {
    for (let cpu = 0; cpu < p.cpus; cpu++) {
      text += `value  cpu${cpu}: ${
        cellText(p.valueCodec, value, cpu * p.stride, p.valueSize)
      }\n`;
    }
  }
  io.out(text);
}

/** `bpfx map set PIN KEY VALUE [--noexist|--exist]`: adds or replaces an entry. */
export function mapSetCommand(
  io: Io,
  pin: string,
  key: string,
  value: string,
  flags: MapSetFlags,
): number {
  using map = openMap(pin);
  const k = keyOf(map, "set a key in", key);
  const v = valueBytes(map, value);
  const flag = flags.noexist ? "noexist" : flags.exist ? "exist" : "any";
  map.set(k, v, { flag });
  if (flags.json) printEntry(io, map, k, v, flags);
  return 0;
}

/** `bpfx map delete PIN KEY`: removes an entry. */
export function mapDeleteCommand(
  io: Io,
  pin: string,
  key: string,
  flags: MapFlags,
): number {
  using map = openMap(pin);
  const k = keyOf(map, "delete a key from", key);
  map.delete(k);
  if (flags.json) {
    const out = new Out(io, true);
    out.ascii('{"key":');
    out.hexList(k, 0, k.length);
    const p = printer(map);
    if (p.key !== undefined) {
      out.ascii(',"formatted":{"key":');
      p.key(viewOf(k), k, 0, out);
      out.ascii("}");
    }
    out.ascii("}\n");
    out.flush();
  }
  return 0;
}
