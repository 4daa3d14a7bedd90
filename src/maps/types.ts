/**
 * What the maps' calls take and give: a map's sizes and BTF types, the
 * options of opening, setting, pushing and iterating, and raw batches.
 *
 * @module
 */

import type { BtfType, Codec } from "../codec/mod.ts";

/** What the data lane knows of a map (the `map` of the `open` reply). */
export interface MapMeta {
  /** The map type's number (`BPF_MAP_TYPE_*`). */
  readonly mapType: number;
  /** The key size in bytes (0 for queues, stacks and ring buffers). */
  readonly keySize: number;
  /** The value size in bytes (per CPU, for per-CPU maps). */
  readonly valueSize: number;
  /**
   * The bytes a lookup writes: the value size, or for per-CPU maps the value
   * size rounded up to 8 times {@linkcode MapMeta.cpus}.
   */
  readonly valueBufSize: number;
  /** The maximum number of entries (a ring buffer's size in bytes). */
  readonly maxEntries: number;
  /** The map flags (`BPF_F_*`). */
  readonly flags: number;
  /** Its BTF object's id, or 0. */
  readonly btfId: number;
  /** The BTF type id of its keys, or 0. */
  readonly btfKeyTypeId: number;
  /** The BTF type id of its values, or 0. */
  readonly btfValueTypeId: number;
  /** The possible CPUs: per-CPU maps hold one value for each. */
  readonly cpus: number;
  /** Whether the map holds a value per CPU. */
  readonly perCpu: boolean;
}

/** A map's key and value types from its BTF (op `map_btf`). */
export interface MapBtf {
  /** The key's type. */
  readonly key: BtfType;
  /** The value's type (one CPU's, for per-CPU maps). */
  readonly value: BtfType;
}

/**
 * How {@linkcode BpfMap.set} treats an existing key: `any` (the default)
 * adds or replaces, `noexist` only adds, `exist` only replaces.
 */
export type UpdateFlag = "any" | "noexist" | "exist";

/** Options for {@linkcode BpfMap.set} and {@linkcode BpfMap.setMany}. */
export interface SetOptions {
  /** Whether the key may, or must, exist already; `any` by default. */
  flag?: UpdateFlag;
  /** Update a value holding a `bpf_spin_lock` under the lock (`BPF_F_LOCK`). */
  lock?: boolean;
}

/** Options for {@linkcode BpfMap.push}. */
export interface PushOptions {
  /** On a full queue or stack, drop the oldest element instead of failing. */
  overwrite?: boolean;
}

/** Options for {@linkcode openMap}. */
export interface MapOptions {
  /**
   * Refuse the map unless its type is this one (or one of these): `"hash"`,
   * `"array"`, `"lru_hash"`, `"percpu_hash"`, `"ringbuf"`, ... (error kind
   * `wrong-kind`).
   */
  type?: string | readonly string[];
  /** Ignore the map's BTF: keys and values are `Uint8Array`s. */
  raw?: boolean;
  /** How keys are encoded and decoded, instead of the map's BTF. */
  key?: Codec<unknown>;
  /** How values (one CPU's, for per-CPU maps) are encoded and decoded. */
  value?: Codec<unknown>;
}

/** Options for iterating a map ({@linkcode BpfMap.entries} and friends). */
export interface IterateOptions {
  /**
   * Entries per batch call: 16384 by default, fewer when values are large
   * (a batch's values stay under 4 MiB).
   */
  chunk?: number;
}

/**
 * One batch of entries as raw bytes ({@linkcode BpfMap.chunks}): entry `i`
 * has its key at `keys[i * keySize ..]` and its value at
 * `values[i * valueSize ..]`. The buffers are reused: they hold this batch
 * only until the iteration moves on.
 */
export interface MapChunk {
  /** How many entries the batch holds. */
  readonly count: number;
  /** The keys, back to back. */
  readonly keys: Uint8Array;
  /** The values, back to back (per-CPU maps: a map's valueBufSize each). */
  readonly values: Uint8Array;
  /** Bytes per key. */
  readonly keySize: number;
  /** Bytes per value (the map's valueBufSize). */
  readonly valueSize: number;
}
