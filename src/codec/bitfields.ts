/**
 * Nodes of bitfields: struct members of a number of bits at a bit offset.
 *
 * @module
 */

import type { BtfType } from "./btf.ts";
import { EncodeProblem, lenientInt, type Node } from "./_node.ts";

/** A bitfield of `bits` at bit `bitOffset` from `off` (little-endian layout). */
export function bitfieldNode(
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
