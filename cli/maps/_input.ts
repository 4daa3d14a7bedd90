/**
 * Keys and values from the command line: each one argument, JSON typed by
 * the map's BTF (`'{"pid": 42}'`, `42`, `'"0x2a"'`; LPM trie keys as
 * `{"prefixLen": n, "data": [...]}` without BTF; per-CPU values as one value
 * for every CPU or an array of one per CPU), or bytes as bpftool writes them
 * (`"hex c8 00 00 00"`, `"200 0 0 0"`, `"0xc8 0x00 0x00 0x00"`); and the
 * refusal of maps whose elements have no keys.
 *
 * @module
 */

import { btfCodec, type BtfType } from "../../src/codec/mod.ts";
import { BpfError } from "../../src/errors.ts";
import type { BpfMap } from "../../src/handles.ts";

const BYTE = /^(0x[0-9a-f]{1,2}|[0-9]{1,3})$/i;
const HEX_BYTE = /^[0-9a-f]{1,2}$/i;
const INTEGER = /^-?(0x[0-9a-f]+|[0-9]+)$/i;

/** What a KEY or VALUE argument holds: bytes, or a JSON value. */
type Input = { bytes: Uint8Array } | { json: unknown };

function usage(message: string, path: string): BpfError {
  return new BpfError(message, {
    kind: "invalid",
    op: "parse",
    errno: 22,
    path,
  });
}

/**
 * Reads a KEY or VALUE argument: bpftool's bytes (`hex c8 00`, `200 0`,
 * `0xc8 0x00`), else JSON (big integers kept exact), else one integer
 * literal (`0x2a`).
 */
export function parseInput(arg: string, what: string, path: string): Input {
  const t = arg.trim();
  const words = t.split(/\s+/);
  const bad = () =>
    usage(
      `Cannot read ${what} "${arg}": expected JSON, or bytes written as "hex c8 00 00 00", "200 0 0 0" or "0xc8 0x00 0x00 0x00"`,
      path,
    );
  if (words[0]?.toLowerCase() === "hex") {
    const hex = words.slice(1);
    if (hex.length === 0 || !hex.every((w) => HEX_BYTE.test(w))) throw bad();
    return { bytes: Uint8Array.from(hex, (w) => parseInt(w, 16)) };
  }
  if (words.length > 1 && words.every((w) => BYTE.test(w))) {
    const bytes = words.map((w) => Number(w));
    if (bytes.some((b) => b > 255)) throw bad();
    return { bytes: Uint8Array.from(bytes) };
  }
  try {
    return { json: parseJson(t) };
  } catch {
    if (INTEGER.test(t)) return { json: t };
    throw bad();
  }
}

/** JSON.parse, with integers beyond 2^53 kept exact as bigints. */
function parseJson(text: string): unknown {
  return JSON.parse(
    text,
    // deno-lint-ignore no-explicit-any
    function (this: unknown, _key: string, value: unknown, context?: any) {
      const source: unknown = context?.source;
      if (
        typeof value === "number" && !Number.isSafeInteger(value) &&
        typeof source === "string" && /^-?[0-9]+$/.test(source)
      ) {
        return BigInt(source);
      }
      return value;
    },
  );
}

/** A little-endian integer of `size` bytes. */
function intBytes(
  v: unknown,
  size: number,
  what: string,
  path: string,
): Uint8Array | undefined {
  let n: bigint;
  if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === "bigint") n = v;
  else if (typeof v === "string" && INTEGER.test(v.trim())) {
    const t = v.trim();
    n = t.startsWith("-") ? -BigInt(t.slice(1)) : BigInt(t);
  } else return undefined;
  const bits = BigInt(size * 8);
  if (n < -(1n << (bits - 1n)) || n >= 1n << bits) {
    throw usage(
      `Cannot use ${what} ${n}: it does not fit in ${size} bytes`,
      path,
    );
  }
  n = BigInt.asUintN(size * 8, n);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** Encodes one key or one CPU's value from JSON, by BTF or as an integer. */
function encodeOne(
  json: unknown,
  type: BtfType | undefined,
  size: number,
  what: string,
  map: BpfMap,
): Uint8Array {
  const path = map.path ?? "";
  if (type !== undefined && type.size === size) {
    const codec = btfCodec(type, {
      lenient: true,
      what: `${what} of map "${map.name}"`,
    });
    const out = new Uint8Array(size);
    codec.encode(json, out);
    return out;
  }
  if (
    map.type === "lpm_trie" && what === "key" && typeof json === "object" &&
    json !== null
  ) {
    const { prefixLen, prefixlen, data } = json as Record<string, unknown>;
    const len = prefixLen ?? prefixlen;
    if (
      typeof len === "number" && Array.isArray(data) && data.length <= size - 4
    ) {
      const out = new Uint8Array(size);
      new DataView(out.buffer).setUint32(0, len, true);
      out.set(data as number[], 4);
      return out;
    }
  }
  if (
    Array.isArray(json) && json.length === size &&
    json.every((b) => typeof b === "number" && b >= 0 && b <= 255)
  ) {
    return Uint8Array.from(json as number[]);
  }
  const asInt = intBytes(json, size, what, path);
  if (asInt !== undefined) return asInt;
  throw usage(
    `Cannot use ${what} ${
      JSON.stringify(json)
    } with map "${map.name}": it has no BTF for its ${what}s; give ${size} bytes (e.g. "hex ${
      "00 ".repeat(size).trim()
    }") or an integer`,
    path,
  );
}

/** The bytes of a KEY argument for `map`. */
export function keyBytes(map: BpfMap, arg: string): Uint8Array {
  const path = map.path ?? "";
  const size = map.meta.keySize;
  const input = parseInput(arg, "KEY", path);
  if ("bytes" in input) {
    if (input.bytes.length !== size) {
      throw usage(
        `Cannot use KEY "${arg}" with map "${map.name}": it is ${input.bytes.length} bytes, the map's keys are ${size} bytes`,
        path,
      );
    }
    return input.bytes;
  }
  return encodeOne(input.json, map.btf()?.key, size, "key", map);
}

/** The bytes of a VALUE argument for `map` (per-CPU: every CPU's). */
export function valueBytes(map: BpfMap, arg: string): Uint8Array {
  const path = map.path ?? "";
  const { valueSize, valueBufSize, perCpu, cpus } = map.meta;
  const stride = perCpu ? Math.ceil(valueSize / 8) * 8 : valueSize;
  const input = parseInput(arg, "VALUE", path);
  const type = map.btf()?.value;
  let each: Uint8Array[];
  if ("bytes" in input) {
    if (input.bytes.length === valueBufSize) return input.bytes;
    if (input.bytes.length !== valueSize) {
      throw usage(
        `Cannot use VALUE "${arg}" with map "${map.name}": it is ${input.bytes.length} bytes, the map's values are ${valueSize} bytes`,
        path,
      );
    }
    each = [input.bytes];
  } else if (
    perCpu && Array.isArray(input.json) && input.json.length === cpus &&
    type?.kind !== "array"
  ) {
    each = input.json.map((v) => encodeOne(v, type, valueSize, "value", map));
  } else {
    each = [encodeOne(input.json, type, valueSize, "value", map)];
  }
  if (!perCpu) return each[0]!;
  // bpftool's rule: one value is every CPU's.
  const out = new Uint8Array(valueBufSize);
  for (let cpu = 0; cpu < cpus; cpu++) {
    out.set(each[cpu] ?? each[0]!, cpu * stride);
  }
  return out;
}

/** Refuses a map whose elements have no keys (`verb`: what was asked of it). */
export function refuseUnkeyed(map: BpfMap, verb: string): void {
  if (
    map.meta.keySize > 0 && map.type !== "ringbuf" &&
    map.type !== "user_ringbuf"
  ) {
    return;
  }
  const why = map.type === "ringbuf"
    ? `it is a ringbuf: read its records with \`bpfx map watch ${map.path}\``
    : `it is a ${map.type}, whose elements have no keys: use \`bpfx map push|pop|peek\``;
  throw new BpfError(`Cannot ${verb} map "${map.name}": ${why}`, {
    kind: "wrong-kind",
    op: verb === "dump" ? "BPF_MAP_GET_NEXT_KEY" : "BPF_MAP_LOOKUP_ELEM",
    errno: 22,
    ...(map.path === null ? {} : { path: map.path }),
  });
}

/** `arg` as a key of `map`, for a command (`verb`) that a map without keys refuses. */
export function keyOf(map: BpfMap, verb: string, arg: string): Uint8Array {
  refuseUnkeyed(map, verb);
  return keyBytes(map, arg);
}
