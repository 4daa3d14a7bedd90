/**
 * Per-CPU values: a per-CPU map holds one value for each possible CPU, each
 * padded to a multiple of 8 bytes, and gives and takes them as an array.
 *
 * @module
 */

import {
  decodeEach,
  encodeEach,
  EncodeProblem,
  type Node,
} from "../codec/mod.ts";

/** Bytes between the CPUs' values: the value size rounded up to 8. */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/**
 * The node of a per-CPU map's values: an array of `cpus` values of `node`
 * (one CPU's value), `perCpuStride(node.size)` bytes apart.
 */
export function perCpuNode(node: Node, cpus: number): Node {
  const stride = perCpuStride(node.size);
  const expected = `an array of ${cpus} values (one per possible CPU)`;
  return {
    size: cpus * stride,
    label: `${node.label}[${cpus} CPUs]`,
    holes: node.holes || stride !== node.size,
    enc(v, dv, u8, off) {
      if (!Array.isArray(v) || v.length !== cpus) {
        throw new EncodeProblem(expected, v);
      }
      encodeEach(node, v, cpus, stride, dv, u8, off);
    },
    dec(dv, u8, off) {
      return decodeEach(node, cpus, stride, dv, u8, off);
    },
  };
}
