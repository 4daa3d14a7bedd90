/**
 * Per-CPU values: a per-CPU map holds one value for each possible CPU, each
 * padded to a multiple of 8 bytes, and gives and takes them as an array.
 *
 * @module
 */

import { EncodeProblem, type Node } from "../codec/mod.ts";

/** Bytes between the CPUs' values: the value size rounded up to 8. */
export function perCpuStride(valueSize: number): number {
  return Math.ceil(valueSize / 8) * 8;
}

/**
 * Writes `values[i]` for each of `cpus` CPUs at `off + i * stride`; an
 * {@linkcode EncodeProblem} names the CPU's index.
 */
export function encodePerCpu(
  node: Node,
  values: readonly unknown[],
  cpus: number,
  stride: number,
  dv: DataView,
  u8: Uint8Array,
  off: number,
): void {
  let i = 0;
  try {
    for (; i < cpus; i++) node.enc(values[i], dv, u8, off + i * stride);
  } catch (e) {
    if (e instanceof EncodeProblem) e.path.unshift(`[${i}]`);
    throw e;
  }
}

/** The values of `cpus` CPUs at `off`, `stride` bytes apart. */
export function decodePerCpu(
  node: Node,
  cpus: number,
  stride: number,
  dv: DataView,
  u8: Uint8Array,
  off: number,
): unknown[] {
  const out = new Array(cpus);
  for (let i = 0; i < cpus; i++) out[i] = node.dec(dv, u8, off + i * stride);
  return out;
}
