/**
 * Nodes of C strings: arrays of chars (`char[N]`), as JavaScript strings.
 *
 * @module
 */

import type { BtfArray } from "./btf.ts";
import { EncodeProblem, type Node, rawNode } from "./_node.ts";

/** Whether an array's elements are C characters, shown as a string. */
export function isCharArray(t: BtfArray): boolean {
  const e = t.elem;
  return e.kind === "int" && e.size === 1 &&
    (e.char || (e.name === "char" && e.typedef === undefined));
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

export function stringNode(t: BtfArray): Node {
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
