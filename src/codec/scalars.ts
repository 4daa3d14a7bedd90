/**
 * Nodes of the scalar types: integers (booleans and chars among them, and
 * those of 64 bits and more as bigint), enums by name, floats, and
 * pointers (as bigint).
 *
 * @module
 */

import type { BtfEnum, BtfInt } from "./btf.ts";
import {
  EncodeProblem,
  INT_TEXT,
  LE,
  lenientInt,
  type Node,
  rawNode,
} from "./_node.ts";

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

export function bigInt(
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

export function intNode(t: BtfInt, lenient: boolean): Node {
  if (t.size === 1 || t.size === 2 || t.size === 4) return smallInt(t, lenient);
  if (t.size > 0 && t.size % 8 === 0) return bigInt(t, intLabel(t), lenient);
  return rawNode(t.size, intLabel(t));
}

export function enumNode(t: BtfEnum, lenient: boolean): Node {
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

export function floatNode(size: number, lenient: boolean): Node {
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
