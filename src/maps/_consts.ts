/**
 * The kernel's numbers the data lane uses (map types, errnos, batch
 * commands, update flags), the names of the map commands in errors, the
 * batch sizes, and the flags a {@linkcode SetOptions} stands for.
 *
 * @module
 */

import { BpfError } from "../errors.ts";
import type { SetOptions, UpdateFlag } from "./types.ts";

/** Map types by number, where the data lane treats them apart. */
export const T = {
  hash: 1,
  array: 2,
  percpuHash: 5,
  percpuArray: 6,
  lruHash: 9,
  lruPercpuHash: 10,
  lpmTrie: 11,
  queue: 22,
  stack: 23,
  ringbuf: 27,
  bloomFilter: 30,
  userRingbuf: 31,
} as const;

/** The types with `BPF_MAP_*_BATCH` (hash tables and arrays). */
export const BATCHED: ReadonlySet<number> = new Set([
  T.hash,
  T.array,
  T.percpuHash,
  T.percpuArray,
  T.lruHash,
  T.lruPercpuHash,
]);
/** Types whose elements have no keys: push, pop and peek. */
export const KEYLESS: ReadonlySet<number> = new Set([
  T.queue,
  T.stack,
  T.bloomFilter,
]);
/** Types with no elements at all. */
export const RINGS: ReadonlySet<number> = new Set([T.ringbuf, T.userRingbuf]);
/** Arrays: every index exists, none can be deleted. */
export const ARRAYS: ReadonlySet<number> = new Set([T.array, T.percpuArray]);

export const ENOENT = 2;
export const E2BIG = 7;
export const EBADF = 9;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EOPNOTSUPP = 95;
export const ENOTSUPP = 524;

/** The batch commands' numbers in `bpfx_map_batch`. */
export const BATCH_LOOKUP = 0;
export const BATCH_UPDATE = 2;
export const BATCH_DELETE = 3;

export const FLAG_BITS: Record<UpdateFlag, bigint> = {
  any: 0n,
  noexist: 1n,
  exist: 2n,
};
const BPF_F_LOCK = 4n;

/** What each operation is called in errors, and how messages say it. */
export type Op =
  | "BPF_MAP_LOOKUP_ELEM"
  | "BPF_MAP_UPDATE_ELEM"
  | "BPF_MAP_DELETE_ELEM"
  | "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
  | "BPF_MAP_GET_NEXT_KEY"
  | "BPF_MAP_LOOKUP_BATCH"
  | "BPF_MAP_UPDATE_BATCH"
  | "BPF_MAP_DELETE_BATCH";

export const DEFAULT_CHUNK = 16384;
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

export function flagsOf(options: SetOptions): bigint {
  const flag = options.flag ?? "any";
  const bits = FLAG_BITS[flag];
  if (bits === undefined) {
    throw new BpfError(
      `Cannot set with flag "${flag}": use "any", "noexist" or "exist"`,
      { kind: "invalid", op: "BPF_MAP_UPDATE_ELEM", errno: EINVAL },
    );
  }
  return options.lock ? bits | BPF_F_LOCK : bits;
}

/** Whether a batch call failed because the map type has no batches. */
export function unsupported(rc: number): boolean {
  return rc === -EINVAL || rc === -ENOTSUPP || rc === -EOPNOTSUPP;
}
