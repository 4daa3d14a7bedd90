/**
 * Encoding and decoding map keys and values: from a map's BTF (compiled once
 * per map into closures over a `DataView`, no reflection per call), raw
 * bytes, the `{prefixLen, data}` keys of LPM tries without BTF, and a
 * caller's own {@linkcode Codec}.
 *
 * BTF gives: integers of 64 bits (and more) as bigint and smaller ones as
 * number, `_Bool` as boolean, structs and unions as objects (anonymous
 * members flattened into their parent), `char[N]` as a string, other
 * arrays as arrays, enums by name (a value without a name as its number),
 * bitfields as numbers, floats as numbers and pointers as bigint.
 *
 * Values are read and written in the host's byte order (that of BTF and of
 * the kernel's maps); bitfields are laid out as on little-endian hosts.
 *
 * @module
 */

import { BpfError } from "../errors.ts";

/** Host byte order: true on little-endian machines. */
export const LE: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A type from a map's BTF, as the core describes it (op `map_btf`).
 * Qualifiers and typedefs are looked through; a typedef's name is kept in
 * `typedef` (the outermost one).
 */
export type BtfType =
  | BtfInt
  | BtfStruct
  | BtfArray
  | BtfEnum
  | {
    readonly kind: "float";
    /** Bytes. */
    readonly size: number;
    /** The type's name, when it has one. */
    readonly name?: string;
    /** The typedef it was reached through, if any. */
    readonly typedef?: string;
  }
  | {
    readonly kind: "ptr";
    /** Bytes. */
    readonly size: number;
    /** The type's name, when it has one. */
    readonly name?: string;
    /** The typedef it was reached through, if any. */
    readonly typedef?: string;
  }
  | {
    readonly kind: "void" | "unknown" | "fwd";
    /** Bytes. */
    readonly size: number;
    /** The type's name, when it has one. */
    readonly name?: string;
    /** The typedef it was reached through, if any. */
    readonly typedef?: string;
  };

/** An integer type of BTF. */
export interface BtfInt {
  /** The BTF kind. */
  readonly kind: "int";
  /** Bytes. */
  readonly size: number;
  /** Bits used. */
  readonly bits: number;
  /** Whether it is signed. */
  readonly signed: boolean;
  /** Whether BTF marks it a char. */
  readonly char: boolean;
  /** Whether BTF marks it a bool. */
  readonly bool: boolean;
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}

/** A struct or union of BTF. */
export interface BtfStruct {
  /** The BTF kind. */
  readonly kind: "struct" | "union";
  /** Bytes. */
  readonly size: number;
  /** The members, in order. */
  readonly members: readonly BtfMember[];
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}

/** A member of a {@linkcode BtfStruct}. */
export interface BtfMember {
  /** Empty for an anonymous struct or union member. */
  readonly name: string;
  /** Offset from the start of the struct, in bits. */
  readonly bitOffset: number;
  /** The width of a bitfield in bits; 0 for other members. */
  readonly bitfieldSize: number;
  /** The member's type. */
  readonly type: BtfType;
}

/** An array of BTF. */
export interface BtfArray {
  /** The BTF kind. */
  readonly kind: "array";
  /** Elements. */
  readonly len: number;
  /** Bytes. */
  readonly size: number;
  /** The element type. */
  readonly elem: BtfType;
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}

/** An enum of BTF (plain or 64-bit); member values are decimal strings. */
export interface BtfEnum {
  /** The BTF kind. */
  readonly kind: "enum";
  /** Bytes. */
  readonly size: number;
  /** Whether it is signed. */
  readonly signed: boolean;
  /** The members: names and decimal values. */
  readonly values: readonly { readonly name: string; readonly value: string }[];
  /** The type's name, when it has one. */
  readonly name?: string;
  /** The typedef it was reached through, if any. */
  readonly typedef?: string;
}

/**
 * How keys or values of a map are turned into bytes and back. bpfx builds
 * one from the map's BTF; pass your own to {@linkcode openMap} for maps
 * without BTF (or to read them your way).
 */
export interface Codec<T> {
  /** The encoded size in bytes: the map's key size, or its value size. */
  readonly size: number;
  /**
   * Writes `value` into `out[0 .. size]`. `out` is reused from call to
   * call: write every byte (padding included).
   */
  encode(value: T, out: Uint8Array): void;
  /**
   * Reads a value from `bytes[0 .. size]`. `bytes` is reused after the call
   * returns: copy what the result keeps.
   */
  decode(bytes: Uint8Array): T;
}

// ---------------------------------------------------------------------------
// Problems found while encoding

/** A value that does not fit its type: where, what was expected, what came. */
export class EncodeProblem extends Error {
  /** Field names and `[index]`es from the outside in. */
  readonly path: string[] = [];
  constructor(readonly expected: string, readonly got: unknown) {
    super(`expected ${expected}, got ${show(got)}`);
  }

  /** The problem as a message fragment: `field "a.b": expected ..., got ...`. */
  describe(): string {
    let field = "";
    for (const part of this.path) {
      field += part.startsWith("[") || field === "" ? part : `.${part}`;
    }
    const where = field === "" ? "" : `field "${field}": `;
    return `${where}expected ${this.expected}, got ${show(this.got)}`;
  }
}

/** A value as a message shows it: JSON-like, bigints with `n`, cut short. */
export function show(v: unknown): string {
  let text: string;
  if (v === undefined) return "undefined";
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return String(v);
  if (v instanceof Uint8Array) return `a Uint8Array of ${v.length} bytes`;
  try {
    text = JSON.stringify(
      v,
      (_k, x) => typeof x === "bigint" ? `${x}n` : x,
    ) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// ---------------------------------------------------------------------------
// Compiled nodes

/** One type, compiled: encoders and decoders at an offset of a buffer. */
export interface Node {
  readonly size: number;
  /** How messages name the type: `u32`, `struct flow_key`, `char[16]`. */
  readonly label: string;
  /** Whether an encoding may leave bytes unwritten (they must be zeroed). */
  readonly holes: boolean;
  /** Writes `v` at `off`; throws {@linkcode EncodeProblem}. */
  enc(v: unknown, dv: DataView, u8: Uint8Array, off: number): void;
  /** Reads the value at `off`. */
  dec(dv: DataView, u8: Uint8Array, off: number): unknown;
}

/** How nodes are compiled. */
export interface CompileOptions {
  /**
   * Also take integers written as strings (`"42"`, `"0x2a"`, `"-1"`), and
   * numbers for enums: for values read from a command line.
   */
  lenient?: boolean;
}

// Bytes that encoders return: one arena, sliced, so that small results do
// not each cost an ArrayBuffer (0.25 to 0.5 µs apiece in Deno).
const ARENA_SIZE = 64 * 1024;
let arena = new Uint8Array(ARENA_SIZE);
let arenaUsed = 0;

/** A copy of `u8[off .. off + len]` that owns its bytes. */
export function copyBytes(
  u8: Uint8Array,
  off: number,
  len: number,
): Uint8Array {
  if (len > ARENA_SIZE / 4) return u8.slice(off, off + len);
  if (arenaUsed + len > ARENA_SIZE) {
    arena = new Uint8Array(ARENA_SIZE);
    arenaUsed = 0;
  }
  const start = arenaUsed;
  arena.set(u8.subarray(off, off + len), start);
  arenaUsed = (start + len + 7) & ~7;
  return arena.subarray(start, start + len);
}

const INT_TEXT = /^[-+]?(0x[0-9a-f]+|0o[0-7]+|0b[01]+|[0-9]+)$/i;

/** A lenient integer: a number, a bigint, or a string of an integer. */
function lenientInt(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if (!INT_TEXT.test(t)) return v;
  const negative = t.startsWith("-");
  const digits = t.replace(/^[-+]/, "");
  const n = BigInt(digits);
  return negative ? -n : n;
}

function rawNode(size: number, label = `${size} bytes`): Node {
  const expected = `a Uint8Array of ${size} bytes`;
  return {
    size,
    label,
    holes: false,
    enc(v, _dv, u8, off) {
      if (v instanceof Uint8Array) {
        if (v.length !== size) throw new EncodeProblem(expected, v);
        u8.set(v, off);
        return;
      }
      if (Array.isArray(v) && v.length === size) {
        for (let i = 0; i < size; i++) {
          const b = v[i];
          if (typeof b !== "number" || !(b >= 0 && b <= 255) || b % 1 !== 0) {
            throw new EncodeProblem(expected, v);
          }
          u8[off + i] = b;
        }
        return;
      }
      throw new EncodeProblem(expected, v);
    },
    dec(_dv, u8, off) {
      return copyBytes(u8, off, size);
    },
  };
}

type Setter = (dv: DataView, off: number, v: number) => void;
type Getter = (dv: DataView, off: number) => number;

const SET: Record<string, Setter> = {
  u1: (dv, o, v) => dv.setUint8(o, v),
  s1: (dv, o, v) => dv.setInt8(o, v),
  u2: (dv, o, v) => dv.setUint16(o, v, LE),
  s2: (dv, o, v) => dv.setInt16(o, v, LE),
  u4: (dv, o, v) => dv.setUint32(o, v, LE),
  s4: (dv, o, v) => dv.setInt32(o, v, LE),
};
const GET: Record<string, Getter> = {
  u1: (dv, o) => dv.getUint8(o),
  s1: (dv, o) => dv.getInt8(o),
  u2: (dv, o) => dv.getUint16(o, LE),
  s2: (dv, o) => dv.getInt16(o, LE),
  u4: (dv, o) => dv.getUint32(o, LE),
  s4: (dv, o) => dv.getInt32(o, LE),
};

function intLabel(t: BtfInt): string {
  if (t.bool) return "bool";
  if (t.char && t.size === 1) return "char";
  return `${t.signed ? "s" : "u"}${t.size * 8}`;
}

function smallInt(t: BtfInt, lenient: boolean): Node {
  const size = t.size;
  const label = intLabel(t);
  const bits = size * 8;
  const min = t.signed ? -(2 ** (bits - 1)) : 0;
  const max = t.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const expected = `a number (${label})`;
  const ranged = `an integer from ${min} to ${max} (${label})`;
  const key = `${t.signed ? "s" : "u"}${size}`;
  const set = SET[key]!;
  const get = GET[key]!;
  if (t.bool) {
    return {
      size,
      label,
      holes: false,
      enc(v, dv, _u8, off) {
        if (lenient) v = lenientInt(v);
        if (typeof v === "boolean") set(dv, off, v ? 1 : 0);
        else if (v === 0 || v === 1) set(dv, off, v);
        else if (v === 0n || v === 1n) set(dv, off, Number(v));
        else throw new EncodeProblem(`a boolean (${label})`, v);
      },
      dec(dv, _u8, off) {
        return get(dv, off) !== 0;
      },
    };
  }
  return {
    size,
    label,
    holes: false,
    enc(v, dv, _u8, off) {
      if (typeof v === "number") {
        if (v >= min && v <= max && v % 1 === 0) {
          set(dv, off, v);
          return;
        }
        throw new EncodeProblem(Number.isFinite(v) ? ranged : expected, v);
      }
      if (lenient) v = lenientInt(v);
      if (typeof v === "bigint") {
        if (v >= min && v <= max) {
          set(dv, off, Number(v));
          return;
        }
        throw new EncodeProblem(ranged, v);
      }
      throw new EncodeProblem(expected, v);
    },
    dec(dv, _u8, off) {
      return get(dv, off);
    },
  };
}

function bigInt(
  t: { size: number; signed: boolean },
  label: string,
  lenient: boolean,
): Node {
  const size = t.size;
  const bits = BigInt(size * 8);
  const min = t.signed ? -(1n << (bits - 1n)) : 0n;
  const max = t.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  const expected = `a bigint or a safe integer (${label})`;
  const ranged = `an integer from ${min} to ${max} (${label})`;
  const signed = t.signed;
  const check = (v: unknown): bigint => {
    if (lenient) v = lenientInt(v);
    if (typeof v === "bigint") {
      if (v >= min && v <= max) return v;
      throw new EncodeProblem(ranged, v);
    }
    if (typeof v === "number" && Number.isSafeInteger(v)) {
      const b = BigInt(v);
      if (b >= min && b <= max) return b;
      throw new EncodeProblem(ranged, v);
    }
    throw new EncodeProblem(expected, v);
  };
  if (size === 8) {
    return signed
      ? {
        size,
        label,
        holes: false,
        enc(v, dv, _u8, off) {
          dv.setBigInt64(
            off,
            typeof v === "bigint" && v >= min && v <= max ? v : check(v),
            LE,
          );
        },
        dec(dv, _u8, off) {
          return dv.getBigInt64(off, LE);
        },
      }
      : {
        size,
        label,
        holes: false,
        enc(v, dv, _u8, off) {
          dv.setBigUint64(
            off,
            typeof v === "bigint" && v >= 0n && v <= max ? v : check(v),
            LE,
          );
        },
        dec(dv, _u8, off) {
          return dv.getBigUint64(off, LE);
        },
      };
  }
  // 128 bits (or any multiple of 8 bytes): words in host order.
  const words = size / 8;
  const mask = (1n << 64n) - 1n;
  return {
    size,
    label,
    holes: false,
    enc(v, dv, _u8, off) {
      let x = BigInt.asUintN(size * 8, check(v));
      for (let i = 0; i < words; i++) {
        const at = LE ? off + i * 8 : off + (words - 1 - i) * 8;
        dv.setBigUint64(at, x & mask, LE);
        x >>= 64n;
      }
    },
    dec(dv, _u8, off) {
      let x = 0n;
      for (let i = words - 1; i >= 0; i--) {
        const at = LE ? off + i * 8 : off + (words - 1 - i) * 8;
        x = (x << 64n) | dv.getBigUint64(at, LE);
      }
      return signed ? BigInt.asIntN(size * 8, x) : x;
    },
  };
}

function intNode(t: BtfInt, lenient: boolean): Node {
  if (t.size === 1 || t.size === 2 || t.size === 4) return smallInt(t, lenient);
  if (t.size > 0 && t.size % 8 === 0) return bigInt(t, intLabel(t), lenient);
  return rawNode(t.size, intLabel(t));
}

function enumNode(t: BtfEnum, lenient: boolean): Node {
  const label = `enum ${t.name ?? t.typedef ?? "(anonymous)"}`;
  const wide = t.size === 8;
  const byName = new Map<string, number | bigint>();
  const byValue = new Map<number | bigint, string>();
  for (const { name, value } of t.values) {
    const v = wide ? BigInt(value) : Number(value);
    byName.set(name, v);
    if (!byValue.has(v)) byValue.set(v, name);
  }
  const names = t.values.slice(0, 6).map((v) => `"${v.name}"`).join(", ") +
    (t.values.length > 6 ? ", ..." : "");
  const expected = t.values.length === 0
    ? `a number (${label})`
    : `one of ${names} or a number (${label})`;
  const base = t.size === 1 || t.size === 2 || t.size === 4
    ? smallInt({
      kind: "int",
      size: t.size,
      bits: t.size * 8,
      signed: t.signed,
      char: false,
      bool: false,
    }, lenient)
    : t.size === 8
    ? bigInt({ size: 8, signed: t.signed }, label, lenient)
    : rawNode(t.size, label);
  return {
    size: t.size,
    label,
    holes: false,
    enc(v, dv, u8, off) {
      if (typeof v === "string") {
        const known = byName.get(v);
        if (known !== undefined) {
          base.enc(known, dv, u8, off);
          return;
        }
        if (!lenient || !INT_TEXT.test(v.trim())) {
          throw new EncodeProblem(expected, v);
        }
      }
      try {
        base.enc(v, dv, u8, off);
      } catch (e) {
        if (e instanceof EncodeProblem) throw new EncodeProblem(expected, v);
        throw e;
      }
    },
    dec(dv, u8, off) {
      const v = base.dec(dv, u8, off) as number | bigint;
      return byValue.get(v) ?? v;
    },
  };
}

/** Whether an array's elements are C characters, shown as a string. */
function isCharArray(t: BtfArray): boolean {
  const e = t.elem;
  return e.kind === "int" && e.size === 1 &&
    (e.char || (e.name === "char" && e.typedef === undefined));
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

function stringNode(t: BtfArray): Node {
  const len = t.len;
  const label = `char[${len}]`;
  const expected = `a string of at most ${len} bytes (${label})`;
  const bytes = rawNode(len, label);
  return {
    size: len,
    label,
    holes: true,
    enc(v, dv, u8, off) {
      if (typeof v !== "string") {
        try {
          bytes.enc(v, dv, u8, off);
          return;
        } catch {
          throw new EncodeProblem(expected, v);
        }
      }
      const target = u8.subarray(off, off + len);
      const { read, written } = utf8.encodeInto(v, target);
      if (read < v.length) throw new EncodeProblem(expected, v);
      target.fill(0, written);
    },
    dec(_dv, u8, off) {
      let end = off;
      const stop = off + len;
      while (end < stop && u8[end] !== 0) end++;
      return end === off ? "" : utf8Decoder.decode(u8.subarray(off, end));
    },
  };
}

function arrayNode(
  t: BtfArray,
  opts: Required<CompileOptions>,
  depth: number,
): Node {
  if (isCharArray(t)) return stringNode(t);
  const elem = compileNode(t.elem, opts, depth + 1);
  const len = t.len;
  const es = elem.size;
  const label = `${elem.label}[${len}]`;
  const expected = `an array of ${len} (${label})`;
  return {
    size: t.size,
    label,
    holes: elem.holes,
    enc(v, dv, u8, off) {
      if (
        typeof v !== "object" || v === null ||
        (v as ArrayLike<unknown>).length !== len ||
        !(Array.isArray(v) || ArrayBuffer.isView(v))
      ) {
        throw new EncodeProblem(expected, v);
      }
      const a = v as ArrayLike<unknown>;
      let i = 0;
      try {
        for (; i < len; i++) elem.enc(a[i], dv, u8, off + i * es);
      } catch (e) {
        if (e instanceof EncodeProblem) e.path.unshift(`[${i}]`);
        throw e;
      }
    },
    dec(dv, u8, off) {
      const out = new Array(len);
      for (let i = 0; i < len; i++) out[i] = elem.dec(dv, u8, off + i * es);
      return out;
    },
  };
}

/** A bitfield of `bits` at bit `bitOffset` from `off` (little-endian layout). */
function bitfieldNode(
  type: BtfType,
  bitOffset: number,
  bits: number,
  lenient: boolean,
): Node {
  const inner = type.kind === "int" || type.kind === "enum" ? type : undefined;
  const signed = inner?.signed ?? false;
  const isBool = type.kind === "int" && type.bool;
  const label = `${
    type.kind === "enum"
      ? `enum ${type.name ?? ""}`
      : `${signed ? "s" : "u"}${bits}`
  }:${bits}`;
  const byte0 = bitOffset >> 3;
  const shift = bitOffset & 7;
  const nbytes = Math.ceil((shift + bits) / 8);
  const big = shift + bits > 48;
  const names = new Map<string, number>();
  const values = new Map<number, string>();
  if (type.kind === "enum") {
    for (const { name, value } of type.values) {
      names.set(name, Number(value));
      if (!values.has(Number(value))) values.set(Number(value), name);
    }
  }
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const expected = isBool
    ? `a boolean (${label})`
    : `an integer from ${min} to ${max} (${label})`;
  const pShift = 2 ** shift;
  const pBits = 2 ** bits;
  const bigMin = BigInt(min);
  const bigMax = BigInt(max);
  return {
    size: 0,
    label,
    holes: true,
    enc(v, _dv, u8, off) {
      if (typeof v === "string" && names.has(v)) v = names.get(v);
      if (isBool && typeof v === "boolean") v = v ? 1 : 0;
      if (lenient) v = lenientInt(v);
      if (big) {
        let x: bigint;
        if (typeof v === "bigint") x = v;
        else if (typeof v === "number" && Number.isSafeInteger(v)) {
          x = BigInt(v);
        } else throw new EncodeProblem(expected, v);
        if (x < bigMin || x > bigMax) throw new EncodeProblem(expected, v);
        x = BigInt.asUintN(bits, x);
        let cur = 0n;
        const at = off + byte0;
        for (let i = nbytes - 1; i >= 0; i--) {
          cur = (cur << 8n) | BigInt(u8[at + i]!);
        }
        const fieldMask = ((1n << BigInt(bits)) - 1n) << BigInt(shift);
        cur = (cur & ~fieldMask) | (x << BigInt(shift));
        for (let i = 0; i < nbytes; i++) {
          u8[at + i] = Number(cur & 0xffn);
          cur >>= 8n;
        }
        return;
      }
      let x: number;
      if (typeof v === "number") x = v;
      else if (typeof v === "bigint") x = Number(v);
      else throw new EncodeProblem(expected, v);
      if (!(x >= min && x <= max) || x % 1 !== 0) {
        throw new EncodeProblem(expected, v);
      }
      if (x < 0) x += pBits;
      const at = off + byte0;
      let cur = 0;
      for (let i = nbytes - 1; i >= 0; i--) cur = cur * 256 + u8[at + i]!;
      const low = cur % pShift;
      const high = Math.floor(cur / (pShift * pBits));
      cur = high * pShift * pBits + x * pShift + low;
      for (let i = 0; i < nbytes; i++) {
        u8[at + i] = cur % 256;
        cur = Math.floor(cur / 256);
      }
    },
    dec(_dv, u8, off) {
      const at = off + byte0;
      if (big) {
        let cur = 0n;
        for (let i = nbytes - 1; i >= 0; i--) {
          cur = (cur << 8n) | BigInt(u8[at + i]!);
        }
        const x = BigInt.asUintN(bits, cur >> BigInt(shift));
        return signed ? BigInt.asIntN(bits, x) : x;
      }
      let cur = 0;
      for (let i = nbytes - 1; i >= 0; i--) cur = cur * 256 + u8[at + i]!;
      let x = Math.floor(cur / pShift) % pBits;
      if (signed && x > max) x -= pBits;
      if (isBool) return x !== 0;
      return values.get(x) ?? x;
    },
  };
}

interface Field {
  readonly name: string;
  /** Byte offset of the member (bitfields: offset 0, placed by their node). */
  readonly off: number;
  readonly node: Node;
}

/** The members of a struct, anonymous structs and unions flattened. */
function fields(
  t: BtfStruct,
  base: number,
  opts: Required<CompileOptions>,
  depth: number,
  out: Field[],
): void {
  for (const m of t.members) {
    const bitOffset = base + m.bitOffset;
    if (
      m.name === "" && (m.type.kind === "struct" || m.type.kind === "union")
    ) {
      fields(m.type, bitOffset, opts, depth + 1, out);
      continue;
    }
    const name = m.name === "" ? `_${out.length}` : m.name;
    if (m.bitfieldSize > 0 || bitOffset % 8 !== 0) {
      const bits = m.bitfieldSize > 0 ? m.bitfieldSize : m.type.size * 8;
      out.push({
        name,
        off: 0,
        node: bitfieldNode(m.type, bitOffset, bits, opts.lenient),
      });
    } else {
      out.push({
        name,
        off: bitOffset / 8,
        node: compileNode(m.type, opts, depth + 1),
      });
    }
  }
}

function structNode(
  t: BtfStruct,
  opts: Required<CompileOptions>,
  depth: number,
): Node {
  const label = `${t.kind} ${t.name ?? t.typedef ?? "(anonymous)"}`;
  const list: Field[] = [];
  fields(t, 0, opts, depth, list);
  const known = new Set(list.map((f) => f.name));
  const expected = `an object (${label})`;
  const memberNames = list.slice(0, 8).map((f) => `"${f.name}"`).join(", ") +
    (list.length > 8 ? ", ..." : "");
  const n = list.length;
  return {
    size: t.size,
    label,
    holes: true,
    enc(v, dv, u8, off) {
      if (
        typeof v !== "object" || v === null || Array.isArray(v) ||
        ArrayBuffer.isView(v)
      ) {
        throw new EncodeProblem(expected, v);
      }
      const o = v as Record<string, unknown>;
      for (const k in o) {
        if (!known.has(k) && o[k] !== undefined) {
          throw new EncodeProblem(`a field of ${label} (${memberNames})`, k);
        }
      }
      let i = 0;
      try {
        for (; i < n; i++) {
          const f = list[i]!;
          const x = o[f.name];
          if (x !== undefined) f.node.enc(x, dv, u8, off + f.off);
        }
      } catch (e) {
        if (e instanceof EncodeProblem) e.path.unshift(list[i]!.name);
        throw e;
      }
    },
    dec(dv, u8, off) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const f = list[i]!;
        o[f.name] = f.node.dec(dv, u8, off + f.off);
      }
      return o;
    },
  };
}

function floatNode(size: number, lenient: boolean): Node {
  if (size !== 4 && size !== 8) return rawNode(size, `float${size * 8}`);
  const label = size === 4 ? "float" : "double";
  const expected = `a number (${label})`;
  return {
    size,
    label,
    holes: false,
    enc(v, dv, _u8, off) {
      if (
        lenient && typeof v === "string" && v.trim() !== "" && !isNaN(Number(v))
      ) {
        v = Number(v);
      }
      if (typeof v !== "number") throw new EncodeProblem(expected, v);
      if (size === 4) dv.setFloat32(off, v, LE);
      else dv.setFloat64(off, v, LE);
    },
    dec(dv, _u8, off) {
      return size === 4 ? dv.getFloat32(off, LE) : dv.getFloat64(off, LE);
    },
  };
}

/** Compiles `t` into a node (depth-limited, as the core's description is). */
export function compileNode(
  t: BtfType,
  opts: Required<CompileOptions>,
  depth = 0,
): Node {
  if (depth > 40) return rawNode(t.size);
  switch (t.kind) {
    case "int":
      return intNode(t, opts.lenient);
    case "enum":
      return enumNode(t, opts.lenient);
    case "struct":
    case "union":
      return structNode(t, opts, depth);
    case "array":
      return arrayNode(t, opts, depth);
    case "float":
      return floatNode(t.size, opts.lenient);
    case "ptr":
      return bigInt({ size: 8, signed: false }, "pointer", opts.lenient);
    default:
      return rawNode(t.size);
  }
}

/** Raw bytes of `size`: Uint8Array in and out. */
export function rawBytesNode(size: number): Node {
  return rawNode(size);
}

/** The value an LPM trie key without BTF is given and taken as. */
export interface LpmKey {
  /** How many leading bits of `data` count. */
  prefixLen: number;
  /** The address bytes, network order (zero-padded to the key's size). */
  data: Uint8Array | readonly number[];
}

/** LPM trie keys without BTF: `{prefixLen, data}` (u32 then the bytes). */
export function lpmNode(size: number): Node {
  const dataLen = size - 4;
  const label = `lpm key of ${size} bytes`;
  const expected = `an object {prefixLen: 0 to ${
    dataLen * 8
  }, data: up to ${dataLen} bytes} (${label})`;
  return {
    size,
    label,
    holes: true,
    enc(v, dv, u8, off) {
      if (v instanceof Uint8Array) {
        if (v.length !== size) throw new EncodeProblem(expected, v);
        u8.set(v, off);
        return;
      }
      if (typeof v !== "object" || v === null) {
        throw new EncodeProblem(expected, v);
      }
      const { prefixLen, data } = v as Partial<LpmKey>;
      if (
        typeof prefixLen !== "number" || prefixLen % 1 !== 0 || prefixLen < 0 ||
        prefixLen > dataLen * 8
      ) {
        const p = new EncodeProblem(
          `an integer from 0 to ${dataLen * 8}`,
          prefixLen,
        );
        p.path.push("prefixLen");
        throw p;
      }
      if (
        !(data instanceof Uint8Array || Array.isArray(data)) ||
        data.length > dataLen
      ) {
        const p = new EncodeProblem(`up to ${dataLen} bytes`, data);
        p.path.push("data");
        throw p;
      }
      dv.setUint32(off, prefixLen, LE);
      for (let i = 0; i < dataLen; i++) {
        const b = i < data.length ? data[i] : 0;
        if (typeof b !== "number" || !(b >= 0 && b <= 255) || b % 1 !== 0) {
          const p = new EncodeProblem("a byte (0 to 255)", b);
          p.path.push("data", `[${i}]`);
          throw p;
        }
        u8[off + 4 + i] = b;
      }
    },
    dec(dv, u8, off) {
      return {
        prefixLen: dv.getUint32(off, LE),
        data: copyBytes(u8, off + 4, dataLen),
      };
    },
  };
}

/** A caller's codec as a node. */
export function codecNode(codec: Codec<unknown>, label = "codec"): Node {
  const size = codec.size;
  return {
    size,
    label,
    holes: false,
    enc(v, _dv, u8, off) {
      codec.encode(
        v,
        off === 0 && u8.length === size ? u8 : u8.subarray(off, off + size),
      );
    },
    dec(_dv, u8, off) {
      return codec.decode(
        off === 0 && u8.length === size ? u8 : u8.subarray(off, off + size),
      );
    },
  };
}

/** Options for {@linkcode btfCodec}. */
export interface BtfCodecOptions {
  /**
   * Also take integers written as strings (`"42"`, `"0x2a"`, `"-1"`), and
   * numbers for enums: for values read from a command line.
   */
  lenient?: boolean;
  /** What the codec encodes, for messages: `key of map "flows"`. */
  what?: string;
}

/**
 * A {@linkcode Codec} for BTF type `type` (as {@linkcode BpfMap.btf}
 * describes it). `encode` throws a {@linkcode BpfError} of kind `invalid`
 * naming the field and the type expected.
 */
export function btfCodec(
  type: BtfType,
  options: BtfCodecOptions = {},
): Codec<unknown> {
  const node = compileNode(type, { lenient: options.lenient ?? false });
  const what = options.what ?? (type.name ? `a ${node.label}` : "a value");
  const size = node.size;
  return {
    size,
    encode(value, out) {
      if (out.length < size) {
        throw new BpfError(
          `Cannot encode ${what}: the buffer has ${out.length} bytes, ${size} are needed`,
          { kind: "invalid", op: "encode", errno: 22 },
        );
      }
      const dv = new DataView(out.buffer, out.byteOffset, size);
      if (node.holes) out.fill(0, 0, size);
      try {
        node.enc(value, dv, out, 0);
      } catch (e) {
        if (!(e instanceof EncodeProblem)) throw e;
        throw new BpfError(`Cannot encode ${what}: ${e.describe()}`, {
          kind: "invalid",
          op: "encode",
          errno: 22,
        });
      }
    },
    decode(bytes) {
      return node.dec(
        new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        bytes,
        0,
      );
    },
  };
}
