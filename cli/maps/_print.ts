/**
 * How the map commands print keys and values: an output buffer written out
 * as it fills ({@linkcode Out}), bpftool's JSON for an entry
 * ({@linkcode writeEntry}: hex bytes, per-CPU values, and the form formatted
 * by BTF), and the text of a key or value for tables.
 *
 * @module
 */

import { btfCodec, type BtfType, type Codec } from "../../src/codec/mod.ts";
import type { BpfMap } from "../../src/handles.ts";
import { type Io, isPretty, safeJson } from "../output.ts";

/** Flags every map command takes. */
export interface MapFlags {
  json?: true | undefined;
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
export const B = {
  key: encoder.encode('{"key":'),
  value: encoder.encode(',"value":'),
  values: encoder.encode(',"values":['),
  formattedKey: encoder.encode(',"formatted":{"key":'),
  close: encoder.encode("}"),
  close2: encoder.encode("}}"),
};

/** Output bytes, gathered in one buffer and written when it fills. */
export class Out {
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
          safeJson(JSON.stringify(JSON.parse(l), null, 2)) + "\n"
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
        this.text(safeJson(JSON.stringify(v)));
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
          this.text(safeJson(JSON.stringify(k)));
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

/** Bytes of `u8` as hex, two digits each, separated by spaces. */
export function hexText(u8: Uint8Array, off = 0, len = u8.length): string {
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
export type Formatter = (
  dv: DataView,
  u8: Uint8Array,
  off: number,
  out: Out,
) => void;

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
export interface Printer {
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

export function printer(map: BpfMap): Printer {
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
export function writeEntry(
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
export function cellText(
  codec: Codec<unknown> | undefined,
  u8: Uint8Array,
  off: number,
  size: number,
): string {
  if (codec === undefined) return hexText(u8, off, size);
  return jsonText(codec.decode(u8.subarray(off, off + size)));
}

export function valueText(
  p: Printer,
  values: Uint8Array,
  voff: number,
): string {
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

/** Bytes `u8` as a `DataView` over the same memory. */
export function viewOf(u8: Uint8Array): DataView {
  return new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
}
