/**
 * Maps on the data lane: the element and batch operations behind
 * {@linkcode BpfMap} (get, set, delete, iterate, push and pop), the typing
 * of keys and values from the map's BTF, and ring buffers
 * ({@linkcode openRingBuf}).
 *
 * Every element call is one synchronous FFI call on buffers allocated once
 * per map; keys and values are encoded by closures compiled once per map
 * from its BTF (or by a caller's {@linkcode Codec}). Iteration reads the
 * map in batches (`BPF_MAP_LOOKUP_BATCH`, 16384 entries per call) where the
 * map type has them, and by `BPF_MAP_GET_NEXT_KEY` otherwise, so memory
 * stays bounded however big the map is.
 *
 * @module
 */

export type {
  IterateOptions,
  MapBtf,
  MapChunk,
  MapMeta,
  MapOptions,
  PushOptions,
  SetOptions,
  UpdateFlag,
} from "./types.ts";
export type { MapIdentity } from "./_errors.ts";
export { MapAccess } from "./access.ts";
export { Cursor } from "./cursor.ts";
export { chunks, iterate, MapIteration } from "./iteration.ts";
export { clear, deleteMany, setMany } from "./batch.ts";
export { peek, pop, push } from "./queues.ts";
export { openRingBuf, RingBuf } from "./ring_buf.ts";
