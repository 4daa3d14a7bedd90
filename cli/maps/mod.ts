/**
 * The map commands: `map dump`, `map get`, `map set`, `map delete` and
 * `map watch`.
 *
 * KEY and VALUE are each one argument: JSON typed by the map's BTF
 * (`'{"pid": 42}'`, `42`, `'"0x2a"'`), or bytes as bpftool writes them, in
 * one quoted argument (`"hex c8 00 00 00"`, `"200 0 0 0"`,
 * `"0xc8 0x00 0x00 0x00"`). `--json` prints entries the way `bpftool -j`
 * does: `{"key": ["0x01", ...], "value": [...], "formatted": {...}}`, with
 * `"values": [{"cpu": 0, "value": [...]}, ...]` for per-CPU maps and
 * `formatted` only for maps with BTF. `map dump` streams: it prints each
 * batch of entries as it is read.
 *
 * @module
 */

import { btfCodec, type BtfType, type Codec } from "../../src/codec.ts";
import { BpfError, BpfNotFoundError } from "../../src/errors.ts";
import { type BpfMap, openMap } from "../../src/handles.ts";
import { openRingBuf } from "../../src/maps.ts";
import { type Io, isPretty } from "../output.ts";

/** Flags every map command takes. */
export interface MapFlags {
  json?: true | undefined;
}

/** Flags of `bpfx map set`. */
export interface MapSetFlags extends MapFlags {
  noexist?: true | undefined;
  exist?: true | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Output: a byte buffer written out as it fills

/** `"0x4b"` for each byte, quotes included: its first 4 bytes, then 2. */
const HEXQ4 = new Uint32Array(256);
const HEXQ2 = new Uint16Array(256);
/** `4b` for each byte. */
const HEX2 = new Uint8Array(256 * 2);
for (let b = 0; b < 256; b++) {
  const h = b.toString(16).padStart(2, "0");
  const q = new DataView(encoder.encode(`"0x${h}"`).buffer);
  HEXQ4[b] = q.getUint32(0, true);
  HEXQ2[b] = q.getUint16(4, true);
  HEX2.set(encoder.encode(h), b * 2);
}

/** `00` to `99`. */
const DIGITS2 = encoder.encode(
  Array.from({ length: 100 }, (_, i) => String(i).padStart(2, "0")).join(""),
);
const COMMA = 44;

/** The constant parts of an entry, as bytes. */
const B = {
  key: encoder.encode('{"key":'),
  value: encoder.encode(',"value":'),
  values: encoder.encode(',"values":['),
  formattedKey: encoder.encode(',"formatted":{"key":'),
  close: encoder.encode("}"),
  close2: encoder.encode("}}"),
};

/** Output bytes, gathered in one buffer and written when it fills. */
class Out {
  buf = new Uint8Array(1 << 20);
  dv = new DataView(this.buf.buffer);
  pos = 0;
  readonly #io: Io;
  /** Re-indents each line (one JSON document) on flush, for `--pretty`. */
  readonly #indent: boolean;

  /**
   * `documents`: what is written is whole JSON documents, one per line,
   * re-indented for `--pretty` (a dump's one streamed array is not).
   */
  constructor(io: Io, documents = false) {
    this.#io = io;
    this.#indent = documents && isPretty(io);
  }

  /** Makes room for `n` more bytes. */
  room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) {
      this.buf = new Uint8Array(n * 2);
      this.dv = new DataView(this.buf.buffer);
    }
  }

  flush(): void {
    if (this.pos === 0) return;
    if (this.#indent) {
      const lines = decoder.decode(this.buf.subarray(0, this.pos)).split("\n");
      this.pos = 0;
      this.#io.out(
        lines.filter((l) => l !== "").map((l) =>
          JSON.stringify(JSON.parse(l), null, 2) + "\n"
        ).join(""),
      );
      return;
    }
    const bytes = this.buf.subarray(0, this.pos);
    if (this.#io.write) this.#io.write(bytes);
    else this.#io.out(decoder.decode(bytes));
    this.pos = 0;
  }

  /** ASCII text (no room check beyond its length). */
  ascii(s: string): void {
    this.room(s.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
    this.pos = p;
  }

  /** Any text, as UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.pos += encoder.encodeInto(s, this.buf.subarray(this.pos)).written;
  }

  /** `["0x01","0x00",...]` for `len` bytes of `u8` at `off`. */
  hexList(u8: Uint8Array, off: number, len: number): void {
    this.room(len * 7 + 2);
    const buf = this.buf;
    const dv = this.dv;
    let p = this.pos;
    buf[p++] = 91; // [
    for (let i = 0; i < len; i++) {
      const b = u8[off + i]!;
      dv.setUint32(p, HEXQ4[b]!, true);
      dv.setUint16(p + 4, HEXQ2[b]!, true);
      buf[p + 6] = COMMA;
      p += 7;
    }
    if (len > 0) p--; // the last comma
    buf[p++] = 93; // ]
    this.pos = p;
  }

  /** Constant bytes. */
  put(bytes: Uint8Array): void {
    this.room(bytes.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < bytes.length; i++) buf[p++] = bytes[i]!;
    this.pos = p;
  }

  /** A non-negative integer below 2^53, in decimal. */
  uint(n: number): void {
    this.room(16);
    const buf = this.buf;
    if (n < 10) {
      buf[this.pos++] = 48 + n;
      return;
    }
    let digits = n < 100
      ? 2
      : n < 1e4
      ? (n < 1e3 ? 3 : 4)
      : n < 1e8
      ? (n < 1e6 ? (n < 1e5 ? 5 : 6) : n < 1e7 ? 7 : 8)
      : 9;
    if (digits === 9) {
      for (let x = n / 1e9; x >= 1; x /= 10) digits++;
    }
    let p = this.pos + digits;
    this.pos = p;
    let x = n;
    // Two digits at a time while the value fits 32 bits.
    while (x >= 0x1_0000_0000) {
      const q = Math.floor(x / 10);
      buf[--p] = 48 + (x - q * 10);
      x = q;
    }
    let y = x >>> 0;
    while (y >= 100) {
      const q = (y / 100) >>> 0;
      const r = (y - q * 100) * 2;
      buf[--p] = DIGITS2[r + 1]!;
      buf[--p] = DIGITS2[r]!;
      y = q;
    }
    if (y >= 10) {
      buf[--p] = DIGITS2[y * 2 + 1]!;
      buf[--p] = DIGITS2[y * 2]!;
    } else buf[--p] = 48 + y;
  }

  /** Any JSON value; bigints as plain integers. */
  json(v: unknown): void {
    switch (typeof v) {
      case "number":
        if (Number.isSafeInteger(v) && v >= 0) this.uint(v);
        else this.ascii(Number.isFinite(v) ? String(v) : "null");
        return;
      case "bigint":
        this.ascii(v.toString());
        return;
      case "string":
        this.text(JSON.stringify(v));
        return;
      case "boolean":
        this.ascii(v ? "true" : "false");
        return;
      case "object": {
        if (v === null) {
          this.ascii("null");
          return;
        }
        if (Array.isArray(v) || ArrayBuffer.isView(v)) {
          const a = v as ArrayLike<unknown>;
          this.ascii("[");
          for (let i = 0; i < a.length; i++) {
            if (i > 0) this.ascii(",");
            this.json(a[i]);
          }
          this.ascii("]");
          return;
        }
        this.ascii("{");
        let first = true;
        for (const [k, x] of Object.entries(v)) {
          if (!first) this.ascii(",");
          first = false;
          this.text(JSON.stringify(k));
          this.ascii(":");
          this.json(x);
        }
        this.ascii("}");
        return;
      }
      default:
        this.ascii("null");
    }
  }
}

/** A value as JSON text (bigints as plain integers), for text output. */
function jsonText(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) => typeof x === "bigint" ? `\u0000${x}` : x,
  ).replace(/"\\u0000(-?\d+)"/g, "$1");
}

function hexText(u8: Uint8Array, off = 0, len = u8.length): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    const b = u8[off + i]!;
    s += (i > 0 ? " " : "") +
      String.fromCharCode(HEX2[b * 2]!, HEX2[b * 2 + 1]!);
  }
  return s;
}

// ---------------------------------------------------------------------------
// Formatting keys and values by BTF

/** Writes the formatted form of the value at `off` of `u8`. */
type Formatter = (dv: DataView, u8: Uint8Array, off: number, out: Out) => void;

/** Formats by BTF: integers directly, anything else decoded then written. */
function formatter(type: BtfType): Formatter {
  if (type.kind === "int" && !type.bool && !(type.char && type.size === 1)) {
    const signed = type.signed;
    switch (type.size) {
      case 1:
        return signed
          ? (dv, _u8, off, out) => out.json(dv.getInt8(off))
          : (dv, _u8, off, out) => out.uint(dv.getUint8(off));
      case 2:
        return signed
          ? (dv, _u8, off, out) => out.json(dv.getInt16(off, true))
          : (dv, _u8, off, out) => out.uint(dv.getUint16(off, true));
      case 4:
        return signed
          ? (dv, _u8, off, out) => out.json(dv.getInt32(off, true))
          : (dv, _u8, off, out) => out.uint(dv.getUint32(off, true));
      case 8:
        return (dv, _u8, off, out) => {
          const lo = dv.getUint32(off, true);
          const hi = dv.getUint32(off + 4, true);
          if (hi < 0x200000) out.uint(hi * 0x1_0000_0000 + lo);
          else {
            out.ascii(
              (signed ? dv.getBigInt64(off, true) : dv.getBigUint64(off, true))
                .toString(),
            );
          }
        };
    }
  }
  const codec = btfCodec(type);
  const size = codec.size;
  return (_dv, u8, off, out) =>
    out.json(codec.decode(u8.subarray(off, off + size)));
}

/** How one map's entries are printed. */
interface Printer {
  readonly keySize: number;
  readonly valueSize: number;
  /** Bytes between per-CPU values. */
  readonly stride: number;
  readonly cpus: number;
  readonly perCpu: boolean;
  readonly key: Formatter | undefined;
  readonly value: Formatter | undefined;
  readonly keyCodec: Codec<unknown> | undefined;
  readonly valueCodec: Codec<unknown> | undefined;
}

function printer(map: BpfMap): Printer {
  const meta = map.meta;
  const btf = map.btf();
  const keyOk = btf !== null && btf.key.size === meta.keySize &&
    meta.keySize > 0;
  const valueOk = btf !== null && btf.value.size === meta.valueSize &&
    meta.valueSize > 0;
  return {
    keySize: meta.keySize,
    valueSize: meta.valueSize,
    stride: meta.perCpu ? Math.ceil(meta.valueSize / 8) * 8 : meta.valueSize,
    cpus: meta.cpus,
    perCpu: meta.perCpu,
    // bpftool formats only when both have BTF.
    key: keyOk && valueOk ? formatter(btf.key) : undefined,
    value: keyOk && valueOk ? formatter(btf.value) : undefined,
    keyCodec: keyOk ? btfCodec(btf.key) : undefined,
    valueCodec: valueOk ? btfCodec(btf.value) : undefined,
  };
}

/** Writes one entry as bpftool's JSON does. */
function writeEntry(
  p: Printer,
  out: Out,
  kdv: DataView,
  keys: Uint8Array,
  koff: number,
  vdv: DataView,
  values: Uint8Array,
  voff: number,
): void {
  out.put(B.key);
  out.hexList(keys, koff, p.keySize);
  if (!p.perCpu) {
    out.put(B.value);
    out.hexList(values, voff, p.valueSize);
    if (p.key !== undefined && p.value !== undefined) {
      out.put(B.formattedKey);
      p.key(kdv, keys, koff, out);
      out.put(B.value);
      p.value(vdv, values, voff, out);
      out.put(B.close2);
    } else out.put(B.close);
    return;
  }
  out.ascii(',"values":[');
  for (let cpu = 0; cpu < p.cpus; cpu++) {
    if (cpu > 0) out.ascii(",");
    out.ascii(`{"cpu":${cpu},"value":`);
    out.hexList(values, voff + cpu * p.stride, p.valueSize);
    out.ascii("}");
  }
  out.ascii("]");
  if (p.key !== undefined && p.value !== undefined) {
    out.ascii(',"formatted":{"key":');
    p.key(kdv, keys, koff, out);
    out.ascii(',"values":[');
    for (let cpu = 0; cpu < p.cpus; cpu++) {
      if (cpu > 0) out.ascii(",");
      out.ascii(`{"cpu":${cpu},"value":`);
      p.value(vdv, values, voff + cpu * p.stride, out);
      out.ascii("}");
    }
    out.ascii("]}");
  }
  out.ascii("}");
}

/** The text of a key or value: formatted by BTF, else hex bytes. */
function cellText(
  codec: Codec<unknown> | undefined,
  u8: Uint8Array,
  off: number,
  size: number,
): string {
  if (codec === undefined) return hexText(u8, off, size);
  return jsonText(codec.decode(u8.subarray(off, off + size)));
}

function valueText(p: Printer, values: Uint8Array, voff: number): string {
  if (!p.perCpu) return cellText(p.valueCodec, values, voff, p.valueSize);
  const parts: string[] = [];
  for (let cpu = 0; cpu < p.cpus; cpu++) {
    parts.push(
      `cpu${cpu}: ${
        cellText(p.valueCodec, values, voff + cpu * p.stride, p.valueSize)
      }`,
    );
  }
  return parts.join("  ");
}

// ---------------------------------------------------------------------------
// Input: keys and values from the command line

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

// ---------------------------------------------------------------------------
// The commands

function refuseUnkeyed(map: BpfMap, verb: string): void {
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
function keyOf(map: BpfMap, verb: string, arg: string): Uint8Array {
  refuseUnkeyed(map, verb);
  return keyBytes(map, arg);
}

/** Bytes `u8` as a `DataView` over the same memory. */
function viewOf(u8: Uint8Array): DataView {
  return new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
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
