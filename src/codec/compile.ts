/**
 * The walk over a BTF type that picks a node for each kind
 * ({@linkcode compileNode}), with the nodes of the kinds made of other
 * types, which it walks in turn: structs and unions (anonymous members
 * flattened into their parent) and arrays.
 *
 * @module
 */

import type { BtfArray, BtfStruct, BtfType } from "./btf.ts";
import { bitfieldNode } from "./bitfields.ts";
import {
  type CompileOptions,
  decodeEach,
  encodeEach,
  EncodeProblem,
  type Node,
  rawNode,
} from "./_node.ts";
import { bigInt, enumNode, floatNode, intNode } from "./scalars.ts";
import { isCharArray, stringNode } from "./strings.ts";

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
      encodeEach(elem, v as ArrayLike<unknown>, len, es, dv, u8, off);
    },
    dec(dv, u8, off) {
      return decodeEach(elem, len, es, dv, u8, off);
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
