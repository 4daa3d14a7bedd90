/**
 * The keys of LPM tries without BTF: `{prefixLen, data}` objects.
 *
 * @module
 */

import { copyBytes, EncodeProblem, LE, type Node } from "./_node.ts";

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
