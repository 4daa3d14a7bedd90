/**
 * Fields of a map's key or value, found by name in its BTF once, and read
 * from raw bytes at each scrape; and the label decoders that turn a field
 * into text, with the check that a decoder fits its field's type.
 *
 * @module
 */

import type { BtfType } from "../codec/mod.ts";
import type { LabelDecoder } from "./types.ts";

/** A field: where it is in the key or value, and its type. */
export interface Field {
  /** The path it was named by (`""`: the whole key or value). */
  readonly path: string;
  /** Bytes from the start of the key or value. */
  readonly offset: number;
  /** Its size in bytes. */
  readonly size: number;
  /** Its type. */
  readonly type: BtfType;
}

/** Why a name does not give a field. */
export class FieldProblem extends Error {}

function describe(t: BtfType): string {
  const name = t.typedef ?? t.name;
  return name === undefined ? t.kind : `${t.kind} ${name}`;
}

/** The members of struct `t` by name, anonymous members flattened. */
function members(
  t: BtfType,
  base = 0,
): Map<string, { offset: number; type: BtfType; bits: number }> {
  const out = new Map<
    string,
    { offset: number; type: BtfType; bits: number }
  >();
  if (t.kind !== "struct" && t.kind !== "union") return out;
  for (const m of t.members) {
    const at = base + m.bitOffset;
    if (m.name === "") {
      for (const [k, v] of members(m.type, at)) out.set(k, v);
    } else out.set(m.name, { offset: at, type: m.type, bits: m.bitfieldSize });
  }
  return out;
}

/** The field `path` (`a.b`, or `""` for all) of type `root`. */
export function fieldOf(root: BtfType, path: string | undefined): Field {
  const p = path ?? "";
  let type = root;
  let offset = 0;
  if (p !== "") {
    for (const part of p.split(".")) {
      const ms = members(type);
      const m = ms.get(part);
      if (m === undefined) {
        throw new FieldProblem(
          ms.size === 0
            ? `"${part}" names a member, but the type is ${
              describe(type)
            }, not a struct`
            : `${describe(type)} has no member "${part}" (it has ${
              [...ms.keys()].join(", ")
            })`,
        );
      }
      if (m.bits !== 0 || m.offset % 8 !== 0) {
        throw new FieldProblem(
          `member "${part}" is a bitfield: give its whole word`,
        );
      }
      offset += m.offset / 8;
      type = m.type;
    }
  }
  return { path: p, offset, size: type.size, type };
}

/** Whether `f` is an integer (or enum) of at most 8 bytes. */
function isInt(f: Field): boolean {
  return (f.type.kind === "int" || f.type.kind === "enum" ||
    f.type.kind === "ptr") && [1, 2, 4, 8].includes(f.size);
}

/** Whether `f` is signed. */
function signed(f: Field): boolean {
  return (f.type.kind === "int" || f.type.kind === "enum") && f.type.signed;
}

/** Throws when `decoder` cannot read field `f`. */
export function checkDecoder(decoder: LabelDecoder, f: Field): void {
  const of = `field "${f.path || "(the key)"}" is ${
    describe(f.type)
  } of ${f.size} bytes`;
  const need = (ok: boolean, what: string) => {
    if (!ok) {
      throw new FieldProblem(`decoder "${decoder}" needs ${what}, but ${of}`);
    }
  };
  switch (decoder) {
    case "cgroup":
    case "ksym":
      return need(isInt(f) && f.size === 8, "an 8-byte integer");
    case "ifname":
    case "errno":
    case "syscall":
    case "uint":
    case "static":
      return need(isInt(f), "an integer of at most 8 bytes");
    case "inet_ip":
      return need(f.size === 4 || f.size === 16, "4 bytes (IPv4) or 16 (IPv6)");
    case "string":
      return need(
        f.type.kind === "array" && f.type.elem.size === 1,
        "an array of chars",
      );
    case "hex":
      return need(f.size > 0, "a field of some bytes");
  }
}

/** Throws unless `f` is a number a metric's value can be. */
export function checkValue(f: Field): void {
  if (!isInt(f) && !(f.type.kind === "float" && [4, 8].includes(f.size))) {
    throw new FieldProblem(
      `the value must be an integer or float of at most 8 bytes, but field "${
        f.path || "(the value)"
      }" is ${describe(f.type)} of ${f.size} bytes`,
    );
  }
}

/** The integer of field `f` at `base` in `dv`, as a bigint. */
export function readBig(dv: DataView, base: number, f: Field): bigint {
  const at = base + f.offset;
  const s = signed(f);
  switch (f.size) {
    case 1:
      return BigInt(s ? dv.getInt8(at) : dv.getUint8(at));
    case 2:
      return BigInt(s ? dv.getInt16(at, true) : dv.getUint16(at, true));
    case 4:
      return BigInt(s ? dv.getInt32(at, true) : dv.getUint32(at, true));
    default:
      return s ? dv.getBigInt64(at, true) : dv.getBigUint64(at, true);
  }
}

/** The number of field `f` at `base` in `dv` (an integer or a float). */
export function readNumber(dv: DataView, base: number, f: Field): number {
  const at = base + f.offset;
  if (f.type.kind === "float") {
    return f.size === 4 ? dv.getFloat32(at, true) : dv.getFloat64(at, true);
  }
  if (f.size === 8) return Number(readBig(dv, base, f));
  return Number(readBig(dv, base, f));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Bytes as a label: valid UTF-8 is kept, and so that the label can be
 * turned back into the bytes, `%` and each byte of an invalid sequence
 * are written `%XX` (hex).
 */
export function bytesLabel(b: Uint8Array): string {
  try {
    const s = utf8.decode(b);
    return s.includes("%") ? s.replaceAll("%", "%25") : s;
  } catch {
    // Decode each run of valid UTF-8, and escape the bytes between.
    let out = "";
    let i = 0;
    while (i < b.length) {
      const n = validRun(b, i);
      if (n > 0) {
        out += utf8.decode(b.subarray(i, i + n)).replaceAll("%", "%25");
        i += n;
      } else {
        out += `%${b[i]!.toString(16).toUpperCase().padStart(2, "0")}`;
        i++;
      }
    }
    return out;
  }
}

/** The length of the valid UTF-8 sequences from `i` (0: an invalid byte). */
function validRun(b: Uint8Array, i: number): number {
  let j = i;
  while (j < b.length) {
    const c = b[j]!;
    const n = c < 0x80
      ? 1
      : c >= 0xc2 && c < 0xe0
      ? 2
      : c >= 0xe0 && c < 0xf0
      ? 3
      : c >= 0xf0 && c < 0xf5
      ? 4
      : 0;
    if (n === 0 || j + n > b.length) break;
    try {
      utf8.decode(b.subarray(j, j + n));
    } catch {
      break;
    }
    j += n;
  }
  return j - i;
}

/** IPv4 or IPv6 address bytes as text. */
export function inetText(b: Uint8Array): string {
  if (b.length === 4) return [...b].join(".");
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  // The longest run of zero words (2 or more) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/** Field `f`'s bytes at `base`. */
export function bytesOf(u8: Uint8Array, base: number, f: Field): Uint8Array {
  return u8.subarray(base + f.offset, base + f.offset + f.size);
}

/** A char array's bytes up to its first NUL, as a label. */
export function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return bytesLabel(end < 0 ? b : b.subarray(0, end));
}

/** Bytes as hex, `0x` first. */
export function hexBytes(b: Uint8Array): string {
  return `0x${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}
