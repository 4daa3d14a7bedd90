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

import { call } from "../_call.ts";
import {
  type BtfType,
  type Codec,
  codecNode,
  compileNode,
  copyBytes,
  EncodeProblem,
  LE,
  lpmNode,
  type Node,
  rawBytesNode,
  show,
} from "../codec/mod.ts";
import {
  type AnyBpfError,
  BpfAlreadyExistsError,
  BpfError,
  BpfNotFoundError,
  type ErrorKind,
  NotSupportedError,
} from "../errors.ts";
import { core, coreGroup } from "../ffi.ts";
import { Source } from "../_source.ts";

// ---------------------------------------------------------------------------
// Types

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

// ---------------------------------------------------------------------------
// Constants

/** Map types by number, where the data lane treats them apart. */
const T = {
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
const BATCHED: ReadonlySet<number> = new Set([
  T.hash,
  T.array,
  T.percpuHash,
  T.percpuArray,
  T.lruHash,
  T.lruPercpuHash,
]);
/** Types whose elements have no keys: push, pop and peek. */
const KEYLESS: ReadonlySet<number> = new Set([T.queue, T.stack, T.bloomFilter]);
/** Types with no elements at all. */
const RINGS: ReadonlySet<number> = new Set([T.ringbuf, T.userRingbuf]);
/** Arrays: every index exists, none can be deleted. */
const ARRAYS: ReadonlySet<number> = new Set([T.array, T.percpuArray]);

const ENOENT = 2;
const E2BIG = 7;
const EBADF = 9;
const EEXIST = 17;
const EINVAL = 22;
const ENOSPC = 28;
const EOPNOTSUPP = 95;
const ENOTSUPP = 524;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  7: "E2BIG",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  22: "EINVAL",
  28: "ENOSPC",
  95: "EOPNOTSUPP",
  524: "ENOTSUPP",
};

/** The batch commands' numbers in `bpfx_map_batch`. */
const BATCH_LOOKUP = 0;
const BATCH_UPDATE = 2;
const BATCH_DELETE = 3;

const FLAG_BITS: Record<UpdateFlag, bigint> = {
  any: 0n,
  noexist: 1n,
  exist: 2n,
};
const BPF_F_LOCK = 4n;

/** What each operation is called in errors, and how messages say it. */
type Op =
  | "BPF_MAP_LOOKUP_ELEM"
  | "BPF_MAP_UPDATE_ELEM"
  | "BPF_MAP_DELETE_ELEM"
  | "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
  | "BPF_MAP_GET_NEXT_KEY"
  | "BPF_MAP_LOOKUP_BATCH"
  | "BPF_MAP_UPDATE_BATCH"
  | "BPF_MAP_DELETE_BATCH";

const DEFAULT_CHUNK = 16384;
const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

// ---------------------------------------------------------------------------
// Errors

/** A key or value as a message shows it. */
function text(v: unknown): string {
  if (v instanceof Uint8Array) {
    const shown = Array.from(
      v.subarray(0, 16),
      (b) => b.toString(16).padStart(2, "0"),
    ).join(" ");
    return `hex ${shown}${v.length > 16 ? " ..." : ""}`;
  }
  return show(v);
}

function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

// ---------------------------------------------------------------------------
// Chunks of entries, for batch calls

/** Buffers for one batch of entries, reused from call to call. */
class Chunk {
  keys!: Uint8Array;
  values!: Uint8Array;
  keysDv!: DataView;
  valuesDv!: DataView;
  keysLen!: bigint;
  valuesLen!: bigint;
  /** `count_io`: [offered -> done, in token set]. */
  readonly count: Uint32Array = new Uint32Array(2);
  cap = 0;
  /** Entries filled. */
  n = 0;

  constructor(cap: number, readonly ks: number, readonly vs: number) {
    this.resize(cap);
  }

  resize(cap: number): void {
    this.cap = cap;
    // At least one byte, so a buffer is never empty (a NULL pointer).
    this.keys = new Uint8Array(Math.max(1, cap * this.ks));
    this.values = new Uint8Array(Math.max(1, cap * this.vs));
    this.keysDv = new DataView(this.keys.buffer);
    this.valuesDv = new DataView(this.values.buffer);
    this.keysLen = BigInt(cap * this.ks);
    this.valuesLen = BigInt(cap * this.vs);
  }
}

/**
 * The pointer of the buffer passed last time, once it is passed again: a
 * call with pointers is ~10 ns cheaper than one with typed arrays, and hot
 * loops pass the same buffers call after call. A buffer seen once goes as a
 * typed array; lengths are checked before either is used.
 */
class PointerCache {
  #buf: Uint8Array | undefined;
  #ptr: Deno.PointerObject | null = null;

  of(buf: Uint8Array): Deno.PointerObject | null {
    if (buf !== this.#buf) {
      this.#buf = buf;
      this.#ptr = null;
      return null;
    }
    return this.#ptr ??= Deno.UnsafePointer.of(buf);
  }
}

/** Which of a map's entries an iteration gives. */
type Mode = "entries" | "keys" | "values";

// ---------------------------------------------------------------------------
// The operations on one map

/** Who a map is, for messages. */
export interface MapIdentity {
  readonly name: string;
  readonly path: string | null;
  /** The map type's name: `hash`, `ringbuf`, ... */
  readonly type: string;
}

/**
 * The data lane of one open map: buffers, codecs and the calls. Made by
 * {@linkcode BpfMap} on first use; not exported from `mod.ts`.
 */
export class MapAccess {
  readonly meta: MapMeta;
  readonly #h: number;
  readonly #lib: ReturnType<typeof coreGroup<"maps">>;
  readonly #id: MapIdentity;
  /** Throws the "handle is closed" error when the map is closed. */
  readonly #checkOpen: (verb: string) => void;
  readonly #btf: MapBtf | null;

  readonly #keyNode: Node;
  readonly #valNode: Node;
  readonly #keyHoles: boolean;
  readonly #valHoles: boolean;
  readonly #keyBuf: Uint8Array;
  readonly #keyDv: DataView;
  readonly #valBuf: Uint8Array;
  readonly #valDv: DataView;
  readonly #keyLen: bigint;
  readonly #valLen: bigint;
  readonly #keySize: number;
  readonly #valSize: number;
  /** Bytes between per-CPU values. */
  readonly #stride: number;
  readonly #cpus: number;
  readonly #perCpu: boolean;
  readonly #keyed: boolean;
  /** One idle set of batch buffers, kept for the next iteration. */
  #idle: Chunk | undefined;
  readonly #keyPtr = new PointerCache();
  readonly #valPtr = new PointerCache();

  constructor(
    handle: number,
    meta: MapMeta,
    id: MapIdentity,
    options: MapOptions,
    checkOpen: (verb: string) => void,
  ) {
    this.#h = handle;
    this.meta = meta;
    this.#id = id;
    this.#checkOpen = checkOpen;
    this.#lib = coreGroup("maps");
    const hasBtf = meta.btfId !== 0 &&
      (meta.btfKeyTypeId !== 0 || meta.btfValueTypeId !== 0);
    this.#btf = hasBtf ? call<MapBtf | null>("map_btf", { handle }) : null;
    const lenient = { lenient: false };
    const btf = options.raw ? null : this.#btf;

    let keyNode: Node | undefined;
    if (options.key !== undefined) {
      keyNode = codecNode(options.key, "key codec");
    } else if (
      btf !== null && btf.key.size === meta.keySize && meta.keySize > 0
    ) {
      keyNode = compileNode(btf.key, lenient);
    } else if (meta.mapType === T.lpmTrie && meta.keySize > 4 && !options.raw) {
      keyNode = lpmNode(meta.keySize);
    }
    keyNode ??= rawBytesNode(meta.keySize);

    let valNode: Node | undefined;
    if (options.value !== undefined) {
      valNode = codecNode(options.value, "value codec");
    } else if (
      btf !== null && btf.value.size === meta.valueSize && meta.valueSize > 0
    ) {
      valNode = compileNode(btf.value, lenient);
    }
    valNode ??= rawBytesNode(meta.valueSize);

    for (
      const [what, node, size] of [
        ["key", keyNode, meta.keySize],
        ["value", valNode, meta.valueSize],
      ] as const
    ) {
      if (node.size !== size) {
        throw new BpfError(
          `Cannot use a ${what} codec of ${node.size} bytes for map "${id.name}": its ${what}s are ${size} bytes`,
          this.#init("invalid", "open", EINVAL),
        );
      }
    }
    this.#keyNode = keyNode;
    this.#valNode = valNode;
    this.#keyHoles = keyNode.holes;
    this.#keySize = meta.keySize;
    this.#valSize = meta.valueSize;
    this.#perCpu = meta.perCpu;
    this.#cpus = meta.cpus;
    this.#stride = meta.perCpu
      ? Math.ceil(meta.valueSize / 8) * 8
      : meta.valueSize;
    this.#valHoles = valNode.holes ||
      (meta.perCpu && this.#stride !== meta.valueSize);
    this.#keyBuf = new Uint8Array(Math.max(1, meta.keySize));
    this.#keyDv = new DataView(this.#keyBuf.buffer);
    this.#valBuf = new Uint8Array(Math.max(1, meta.valueBufSize));
    this.#valDv = new DataView(this.#valBuf.buffer);
    this.#keyLen = BigInt(meta.keySize);
    this.#valLen = BigInt(meta.valueBufSize);
    this.#keyed = meta.keySize > 0 && !RINGS.has(meta.mapType);
  }

  /** The map's key and value types from BTF, or null without BTF. */
  btf(): MapBtf | null {
    return this.#btf;
  }

  // --- element operations -------------------------------------------------

  get(key: unknown): unknown {
    const k = this.#key(key, "BPF_MAP_LOOKUP_ELEM");
    const rc = this.#lookup(k, this.#valBuf);
    if (rc === 0) return this.#decodeValue(this.#valDv, this.#valBuf, 0);
    if (rc === -ENOENT) return undefined;
    throw this.#fail(rc, "BPF_MAP_LOOKUP_ELEM", key);
  }

  getInto(key: unknown, out: Uint8Array): boolean {
    const k = this.#key(key, "BPF_MAP_LOOKUP_ELEM");
    const size = this.meta.valueBufSize;
    let target = out;
    if (out.length !== size) {
      if (out.length < size) {
        throw new BpfError(
          `Cannot look up key ${
            text(key)
          } in map "${this.#id.name}": the output buffer has ${out.length} bytes, values are ${size} bytes`,
          this.#init("invalid", "BPF_MAP_LOOKUP_ELEM", EINVAL),
        );
      }
      target = out.subarray(0, size);
    }
    const rc = this.#lookup(k, target);
    if (rc === 0) return true;
    if (rc === -ENOENT) return false;
    throw this.#fail(rc, "BPF_MAP_LOOKUP_ELEM", key);
  }

  has(key: unknown): boolean {
    const k = this.#key(key, "BPF_MAP_LOOKUP_ELEM");
    const rc = this.#lookup(k, this.#valBuf);
    if (rc === 0) return true;
    if (rc === -ENOENT) return false;
    throw this.#fail(rc, "BPF_MAP_LOOKUP_ELEM", key);
  }

  set(key: unknown, value: unknown, options?: SetOptions): void {
    const k = this.#key(key, "BPF_MAP_UPDATE_ELEM");
    const v = this.#value(value, "BPF_MAP_UPDATE_ELEM");
    const flags = options === undefined ? 0n : flagsOf(options);
    const kp = this.#keyPtr.of(k);
    const vp = this.#valPtr.of(v);
    const rc = kp !== null && vp !== null
      ? this.#lib.bpfx_map_update_ptr(
        this.#h,
        kp,
        this.#keyLen,
        vp,
        this.#valLen,
        flags,
      )
      : this.#lib.bpfx_map_update(
        this.#h,
        k,
        this.#keyLen,
        v,
        this.#valLen,
        flags,
      );
    if (rc !== 0) {
      throw this.#fail(rc, "BPF_MAP_UPDATE_ELEM", key, options?.flag);
    }
  }

  /** `BPF_MAP_LOOKUP_ELEM` of key bytes `k` into `out` (valueBufSize bytes). */
  #lookup(k: Uint8Array, out: Uint8Array): number {
    const kp = this.#keyPtr.of(k);
    const vp = this.#valPtr.of(out);
    return kp !== null && vp !== null
      ? this.#lib.bpfx_map_lookup_ptr(
        this.#h,
        kp,
        this.#keyLen,
        vp,
        this.#valLen,
        0n,
      )
      : this.#lib.bpfx_map_lookup(
        this.#h,
        k,
        this.#keyLen,
        out,
        this.#valLen,
        0n,
      );
  }

  delete(key: unknown): void {
    const k = this.#key(key, "BPF_MAP_DELETE_ELEM");
    const rc = this.#lib.bpfx_map_delete(this.#h, k, this.#keyLen);
    if (rc !== 0) throw this.#fail(rc, "BPF_MAP_DELETE_ELEM", key);
  }

  lookupAndDelete(key: unknown): unknown {
    const k = this.#key(key, "BPF_MAP_LOOKUP_AND_DELETE_ELEM");
    const rc = this.#lib.bpfx_map_lookup_and_delete(
      this.#h,
      k,
      this.#keyLen,
      this.#valBuf,
      this.#valLen,
      0n,
    );
    if (rc === 0) return this.#decodeValue(this.#valDv, this.#valBuf, 0);
    throw this.#fail(rc, "BPF_MAP_LOOKUP_AND_DELETE_ELEM", key);
  }

  // --- queues and stacks --------------------------------------------------

  push(value: unknown, options?: PushOptions): void {
    this.#keyless("push onto");
    const v = this.#value(value, "BPF_MAP_UPDATE_ELEM");
    const flags = options?.overwrite ? FLAG_BITS.exist : 0n;
    const rc = this.#lib.bpfx_map_update(
      this.#h,
      null,
      0n,
      v,
      this.#valLen,
      flags,
    );
    if (rc !== 0) {
      throw this.#fail(rc, "BPF_MAP_UPDATE_ELEM", undefined, undefined, "push");
    }
  }

  pop(): unknown {
    return this.#front("pop");
  }

  peek(): unknown {
    return this.#front("peek");
  }

  /**
   * The value at the front of a queue or stack (taken off by `pop`), or
   * undefined when it is empty.
   */
  #front(queueVerb: "pop" | "peek"): unknown {
    const pop = queueVerb === "pop";
    this.#keyless(pop ? "pop from" : "peek at");
    const op = pop ? "BPF_MAP_LOOKUP_AND_DELETE_ELEM" : "BPF_MAP_LOOKUP_ELEM";
    const lookup = pop
      ? this.#lib.bpfx_map_lookup_and_delete
      : this.#lib.bpfx_map_lookup;
    const rc = lookup(this.#h, null, 0n, this.#valBuf, this.#valLen, 0n);
    if (rc === 0) return this.#decodeValue(this.#valDv, this.#valBuf, 0);
    if (rc === -ENOENT) return undefined;
    throw this.#fail(rc, op, undefined, undefined, queueVerb);
  }

  // --- iteration ----------------------------------------------------------

  /** The entries, keys or values, read in chunks. */
  iterate<T>(mode: Mode, options: IterateOptions = {}): MapIteration<T> {
    this.#keyedOrThrow("BPF_MAP_GET_NEXT_KEY");
    return new MapIteration<T>(this, mode, this.#chunkSize(options));
  }

  /** The raw batches of entries. */
  chunks(options: IterateOptions = {}): MapIteration<MapChunk> {
    this.#keyedOrThrow("BPF_MAP_GET_NEXT_KEY");
    return new MapIteration<MapChunk>(this, "chunks", this.#chunkSize(options));
  }

  #chunkSize(options: IterateOptions): number {
    const fit = Math.max(
      1,
      Math.floor(MAX_CHUNK_BYTES / Math.max(1, this.meta.valueBufSize)),
    );
    const asked = options.chunk ?? DEFAULT_CHUNK;
    if (!Number.isSafeInteger(asked) || asked < 1) {
      throw new BpfError(
        `Cannot read map "${this.#id.name}" in chunks of ${asked}: a chunk is a positive integer`,
        this.#init("invalid", "BPF_MAP_LOOKUP_BATCH", EINVAL),
      );
    }
    return Math.min(asked, options.chunk === undefined ? fit : asked);
  }

  /** A set of batch buffers for `cap` entries (the idle one when it fits). */
  takeChunk(cap: number): Chunk {
    const idle = this.#idle;
    if (idle !== undefined && idle.cap === cap) {
      this.#idle = undefined;
      return idle;
    }
    return new Chunk(cap, this.#keySize, this.meta.valueBufSize);
  }

  /** Gives back a set of batch buffers for the next iteration. */
  giveChunk(c: Chunk): void {
    c.n = 0;
    this.#idle = c;
  }

  /**
   * A cursor over the map: batch calls, or next_key and (unless `values` is
   * false) a lookup per key.
   */
  cursor(values = true): Cursor {
    return new Cursor(this, BATCHED.has(this.meta.mapType), values);
  }

  decodeKey(dv: DataView, u8: Uint8Array, off: number): unknown {
    return this.#keyNode.dec(dv, u8, off);
  }

  decodeValue(dv: DataView, u8: Uint8Array, off: number): unknown {
    return this.#decodeValue(dv, u8, off);
  }

  /** One step of a cursor: the batch call, synchronous. */
  batchSync(
    op: number,
    cur: Uint8Array,
    curLen: bigint,
    c: Chunk,
    flags = 0n,
  ): number {
    return this.#lib.bpfx_map_batch(
      this.#h,
      op,
      cur,
      curLen,
      c.keys,
      c.keysLen,
      c.values,
      c.valuesLen,
      c.count,
      flags,
    );
  }

  /** One step of a cursor: the lookup batch, on the blocking thread pool. */
  batchAsync(cur: Uint8Array, curLen: bigint, c: Chunk): Promise<number> {
    return this.#lib.bpfx_map_batch_nonblocking(
      this.#h,
      BATCH_LOOKUP,
      cur,
      curLen,
      c.keys,
      c.keysLen,
      c.values,
      c.valuesLen,
      c.count,
      0n,
    );
  }

  nextKey(prev: Uint8Array | null, next: Uint8Array): number {
    return this.#lib.bpfx_map_next_key(
      this.#h,
      prev,
      prev === null ? 0n : this.#keyLen,
      next,
      this.#keyLen,
    );
  }

  lookupRaw(key: Uint8Array, value: Uint8Array): number {
    return this.#lib.bpfx_map_lookup(
      this.#h,
      key,
      this.#keyLen,
      value,
      this.#valLen,
      0n,
    );
  }

  // --- batches of updates and deletes --------------------------------------

  setMany(
    entries: Iterable<readonly [unknown, unknown]>,
    options?: SetOptions,
  ): number {
    this.#keyedOrThrow("BPF_MAP_UPDATE_BATCH");
    const flags = options === undefined ? 0n : flagsOf(options);
    const c = this.takeChunk(this.#chunkSize({}));
    const cur = new Uint8Array(2 * Math.max(this.#keySize, 4));
    const curLen = BigInt(cur.length);
    let batched = BATCHED.has(this.meta.mapType);
    let total = 0;
    let n = 0;
    const ks = this.#keySize;
    const vs = this.meta.valueBufSize;
    const flush = () => {
      if (n === 0) return;
      if (batched) {
        c.count[0] = n;
        c.count[1] = 0;
        const rc = this.batchSync(BATCH_UPDATE, cur, curLen, c, flags);
        if (rc === 0) {
          total += n;
          n = 0;
          return;
        }
        const done = c.count[0] ?? 0;
        if (done === 0 && total === 0 && unsupported(rc)) {
          batched = false; // fall through to one call per entry
        } else {
          total += done;
          const key = this.#keyNode.dec(c.keysDv, c.keys, done * ks);
          throw this.#fail(
            rc,
            "BPF_MAP_UPDATE_BATCH",
            key,
            options?.flag,
            undefined,
            total,
          );
        }
      }
      for (let i = 0; i < n; i++) {
        const rc = this.#lib.bpfx_map_update(
          this.#h,
          c.keys.subarray(i * ks, i * ks + ks),
          this.#keyLen,
          c.values.subarray(i * vs, i * vs + vs),
          this.#valLen,
          flags,
        );
        if (rc !== 0) {
          const key = this.#keyNode.dec(c.keysDv, c.keys, i * ks);
          throw this.#fail(
            rc,
            "BPF_MAP_UPDATE_ELEM",
            key,
            options?.flag,
            undefined,
            total,
          );
        }
        total++;
      }
      n = 0;
    };
    try {
      for (const [key, value] of entries) {
        this.#encodeKeyAt(
          key,
          c.keysDv,
          c.keys,
          n * ks,
          "BPF_MAP_UPDATE_BATCH",
        );
        this.#encodeValueAt(
          value,
          c.valuesDv,
          c.values,
          n * vs,
          "BPF_MAP_UPDATE_BATCH",
        );
        if (++n === c.cap) flush();
      }
      flush();
    } finally {
      this.giveChunk(c);
    }
    return total;
  }

  deleteMany(keys: Iterable<unknown>): number {
    this.#keyedOrThrow("BPF_MAP_DELETE_BATCH");
    const c = this.takeChunk(this.#chunkSize({}));
    try {
      let deleted = 0;
      let n = 0;
      for (const key of keys) {
        this.#encodeKeyAt(
          key,
          c.keysDv,
          c.keys,
          n * this.#keySize,
          "BPF_MAP_DELETE_BATCH",
        );
        if (++n === c.cap) {
          deleted += this.deleteChunk(c, n);
          n = 0;
        }
      }
      deleted += this.deleteChunk(c, n);
      return deleted;
    } finally {
      this.giveChunk(c);
    }
  }

  /** Deletes the first `n` keys of `c` (those missing are skipped). */
  deleteChunk(c: Chunk, n: number): number {
    const ks = this.#keySize;
    let deleted = 0;
    let start = 0;
    let batched = BATCHED.has(this.meta.mapType) &&
      !ARRAYS.has(this.meta.mapType);
    const cur = new Uint8Array(2 * Math.max(ks, 4));
    const curLen = BigInt(cur.length);
    while (start < n) {
      if (batched) {
        if (start > 0) c.keys.copyWithin(0, start * ks, n * ks);
        n -= start;
        start = 0;
        c.count[0] = n;
        c.count[1] = 0;
        const rc = this.batchSync(BATCH_DELETE, cur, curLen, c);
        const done = rc === 0 ? n : c.count[0] ?? 0;
        deleted += done;
        if (rc === 0) return deleted;
        if (rc === -ENOENT) {
          start = done + 1; // skip the missing key
          continue;
        }
        if (done === 0 && unsupported(rc)) {
          batched = false;
          continue;
        }
        const key = this.#keyNode.dec(c.keysDv, c.keys, done * ks);
        throw this.#fail(
          rc,
          "BPF_MAP_DELETE_BATCH",
          key,
          undefined,
          undefined,
          deleted,
        );
      }
      const rc = this.#lib.bpfx_map_delete(
        this.#h,
        c.keys.subarray(start * ks, start * ks + ks),
        this.#keyLen,
      );
      if (rc === 0) deleted++;
      else if (rc !== -ENOENT) {
        const key = this.#keyNode.dec(c.keysDv, c.keys, start * ks);
        throw this.#fail(
          rc,
          "BPF_MAP_DELETE_ELEM",
          key,
          undefined,
          undefined,
          deleted,
        );
      }
      start++;
    }
    return deleted;
  }

  clear(): number {
    const type = this.meta.mapType;
    if (KEYLESS.has(type) && type !== T.bloomFilter) {
      let n = 0;
      while (this.pop() !== undefined) n++;
      return n;
    }
    this.#keyedOrThrow("BPF_MAP_DELETE_ELEM");
    if (ARRAYS.has(type)) return this.#zeroArray();
    const cursor = this.cursor();
    const c = this.takeChunk(this.#chunkSize({}));
    let deleted = 0;
    try {
      for (;;) {
        cursor.fill(c);
        deleted += this.deleteChunk(c, c.n);
        if (cursor.ended) return deleted;
      }
    } finally {
      this.giveChunk(c);
    }
  }

  /** Sets every element of an array to zero bytes. */
  #zeroArray(): number {
    const max = this.meta.maxEntries;
    const zero = new Uint8Array(this.meta.valueBufSize);
    function* all(): Generator<[Uint8Array, Uint8Array]> {
      const key = new Uint8Array(4);
      const dv = new DataView(key.buffer);
      for (let i = 0; i < max; i++) {
        dv.setUint32(0, i, true);
        yield [key, zero];
      }
    }
    // Raw bytes go in as they are, whatever the codecs.
    return this.setMany(all());
  }

  // --- encoding -----------------------------------------------------------

  /** The key's bytes: the caller's `Uint8Array`, or the encoded key. */
  #key(key: unknown, op: Op): Uint8Array {
    if (!this.#keyed) throw this.#notKeyed(op);
    if (key instanceof Uint8Array) {
      if (key.length !== this.#keySize) {
        throw this.#sizeError("key", key.length, op, key);
      }
      return key;
    }
    this.#encodeKeyAt(key, this.#keyDv, this.#keyBuf, 0, op);
    return this.#keyBuf;
  }

  #encodeKeyAt(
    key: unknown,
    dv: DataView,
    u8: Uint8Array,
    off: number,
    op: Op,
  ): void {
    const size = this.#keySize;
    if (key instanceof Uint8Array) {
      if (key.length !== size) {
        throw this.#sizeError("key", key.length, op, key);
      }
      u8.set(key, off);
      return;
    }
    if (this.#keyHoles) u8.fill(0, off, off + size);
    try {
      this.#keyNode.enc(key, dv, u8, off);
    } catch (e) {
      throw this.#encodeError("key", e);
    }
  }

  /** The value's bytes: the caller's `Uint8Array`, or the encoded value. */
  #value(value: unknown, op: Op): Uint8Array {
    if (value instanceof Uint8Array) {
      if (value.length !== this.meta.valueBufSize) {
        throw this.#sizeError("value", value.length, op, undefined);
      }
      return value;
    }
    this.#encodeValueAt(value, this.#valDv, this.#valBuf, 0, op);
    return this.#valBuf;
  }

  #encodeValueAt(
    value: unknown,
    dv: DataView,
    u8: Uint8Array,
    off: number,
    op: Op,
  ): void {
    const size = this.meta.valueBufSize;
    if (value instanceof Uint8Array) {
      if (value.length !== size) {
        throw this.#sizeError("value", value.length, op, undefined);
      }
      u8.set(value, off);
      return;
    }
    if (this.#valHoles) u8.fill(0, off, off + size);
    const node = this.#valNode;
    if (!this.#perCpu) {
      try {
        node.enc(value, dv, u8, off);
      } catch (e) {
        throw this.#encodeError("value", e);
      }
      return;
    }
    const cpus = this.#cpus;
    if (!Array.isArray(value) || value.length !== cpus) {
      throw new BpfError(
        `Cannot encode value of map "${this.#id.name}": expected an array of ${cpus} values (one per possible CPU), got ${
          show(value)
        }`,
        this.#init("invalid", "encode", EINVAL),
      );
    }
    let i = 0;
    try {
      for (; i < cpus; i++) node.enc(value[i], dv, u8, off + i * this.#stride);
    } catch (e) {
      if (e instanceof EncodeProblem) e.path.unshift(`[${i}]`);
      throw this.#encodeError("value", e);
    }
  }

  #decodeValue(dv: DataView, u8: Uint8Array, off: number): unknown {
    if (!this.#perCpu) return this.#valNode.dec(dv, u8, off);
    const out = new Array(this.#cpus);
    for (let i = 0; i < this.#cpus; i++) {
      out[i] = this.#valNode.dec(dv, u8, off + i * this.#stride);
    }
    return out;
  }

  // --- errors -------------------------------------------------------------

  #init(kind: ErrorKind, op: string, errno: number, hint?: string) {
    const init: {
      kind: ErrorKind;
      op: string;
      errno: number;
      path?: string;
      hint?: string;
    } = { kind, op, errno };
    if (this.#id.path !== null) init.path = this.#id.path;
    if (hint !== undefined) init.hint = hint;
    return init;
  }

  #encodeError(what: "key" | "value", e: unknown): AnyBpfError {
    if (e instanceof EncodeProblem) {
      return new BpfError(
        `Cannot encode ${what} of map "${this.#id.name}": ${e.describe()}`,
        this.#init("invalid", "encode", EINVAL),
      );
    }
    if (e instanceof Error) {
      return new BpfError(
        `Cannot encode ${what} of map "${this.#id.name}": ${e.message}`,
        { ...this.#init("invalid", "encode", EINVAL), cause: e },
      );
    }
    return new BpfError(
      `Cannot encode ${what} of map "${this.#id.name}": ${String(e)}`,
      this.#init("invalid", "encode", EINVAL),
    );
  }

  #sizeError(
    what: "key" | "value",
    got: number,
    op: Op,
    key: unknown,
  ): BpfError {
    const want = what === "key" ? this.#keySize : this.meta.valueBufSize;
    const perCpu = what === "value" && this.#perCpu
      ? ` (${this.#cpus} CPUs of ${this.#valSize} bytes, each padded to ${this.#stride})`
      : "";
    const subject = what === "key" && key !== undefined
      ? `key ${this.keyText(key)}`
      : `a ${what}`;
    return new BpfError(
      `Cannot use ${subject} of ${got} bytes with map "${this.#id.name}": its ${what}s are ${want} bytes${perCpu}`,
      this.#init("invalid", op, EINVAL),
    );
  }

  #notKeyed(op: Op): BpfError {
    const { name, type } = this.#id;
    const why = RINGS.has(this.meta.mapType)
      ? `it is a ${type}, which has records, not entries: read them with records() or openRingBuf()`
      : `it is a ${type}, whose elements have no keys: use push(), pop() or peek()`;
    return new BpfError(
      `Cannot use keys with map "${name}": ${why}`,
      this.#init("wrong-kind", op, EINVAL),
    );
  }

  #keyedOrThrow(op: Op): void {
    if (!this.#keyed) throw this.#notKeyed(op);
  }

  #keyless(verb: string): void {
    if (KEYLESS.has(this.meta.mapType)) return;
    const { name, type } = this.#id;
    const why = RINGS.has(this.meta.mapType)
      ? `it is a ${type}: read its records with records() or openRingBuf()`
      : `it is a ${type}, whose elements have keys: use set(), get() and delete()`;
    throw new BpfError(
      `Cannot ${verb} map "${name}": ${why}`,
      this.#init(
        "wrong-kind",
        verb.startsWith("push") ? "BPF_MAP_UPDATE_ELEM" : "BPF_MAP_LOOKUP_ELEM",
        EINVAL,
      ),
    );
  }

  /**
   * A key as every message shows it: decoded by the map's key type (BTF or
   * codec) when it is given as bytes of the key's size, so that `42` and its
   * bytes `2a 00 00 00` read the same; else as given (`hex ..` for bytes).
   */
  keyText(key: unknown): string {
    if (key instanceof Uint8Array && key.length === this.#keySize) {
      try {
        const decoded = this.#keyNode.dec(
          new DataView(key.buffer, key.byteOffset, key.byteLength),
          key,
          0,
        );
        if (!(decoded instanceof Uint8Array)) return show(decoded);
      } catch {
        // Not decodable: shown as bytes below.
      }
    }
    return text(key);
  }

  /** The error of a failed call that returned `rc` (a negative errno). */
  fail(rc: number, op: Op, key?: unknown): AnyBpfError {
    return this.#fail(rc, op, key);
  }

  #fail(
    rc: number,
    op: Op,
    key?: unknown,
    flag?: UpdateFlag,
    queueVerb?: "push" | "pop" | "peek",
    doneBefore?: number,
  ): AnyBpfError {
    const errno = -rc;
    const { name, type } = this.#id;
    const k = key === undefined ? "" : ` ${this.keyText(key)}`;
    const where = `map "${name}"`;
    let what: string;
    switch (op) {
      case "BPF_MAP_LOOKUP_ELEM":
        what = queueVerb === "peek"
          ? `peek at ${where}`
          : `look up key${k} in ${where}`;
        break;
      case "BPF_MAP_UPDATE_ELEM":
        what = queueVerb === "push"
          ? `push onto ${where}`
          : `set key${k} in ${where}`;
        break;
      case "BPF_MAP_DELETE_ELEM":
        what = `delete key${k} from ${where}`;
        break;
      case "BPF_MAP_LOOKUP_AND_DELETE_ELEM":
        what = queueVerb === "pop"
          ? `pop from ${where}`
          : `take key${k} from ${where}`;
        break;
      case "BPF_MAP_GET_NEXT_KEY":
        what = `list the keys of ${where}`;
        break;
      case "BPF_MAP_LOOKUP_BATCH":
        what = `read the entries of ${where}`;
        break;
      case "BPF_MAP_UPDATE_BATCH":
        what = `set key${k} in ${where}`;
        break;
      case "BPF_MAP_DELETE_BATCH":
        what = `delete key${k} from ${where}`;
        break;
    }
    const after = doneBefore === undefined || doneBefore === 0
      ? ""
      : ` (${doneBefore} done before it)`;
    if (errno === EBADF) this.#checkOpen("use");
    const reasons: Record<number, [ErrorKind, string, string?]> = {
      [ENOENT]: ["not-found", "no such key"],
      [EEXIST]: [
        "exists",
        `the key exists${flag === "noexist" ? ' (flag "noexist")' : ""}`,
        'use flag "any" to replace it',
      ],
      [E2BIG]: [
        "invalid",
        KEYLESS.has(this.meta.mapType)
          ? `the ${type} is full (${this.meta.maxEntries} elements)`
          : `the map is full (${this.meta.maxEntries} entries)`,
        KEYLESS.has(this.meta.mapType)
          ? "pop elements first, or push with { overwrite: true }"
          : "delete entries first, or give the map more entries (max_entries)",
      ],
      1: ["permission", "operation not permitted", "needs root or CAP_BPF"],
      13: [
        "permission",
        "permission denied",
        "needs root or CAP_BPF, and a map that is not read-only or frozen for this access",
      ],
      16: ["busy", "the map is busy"],
      [ENOSPC]: ["os", "no space left"],
      12: ["os", "out of memory"],
    };
    const known = reasons[errno];
    let kind: ErrorKind;
    let reason: string;
    let hint: string | undefined;
    if (known !== undefined) {
      [kind, reason, hint] = known;
      if (errno === ENOENT && queueVerb !== undefined) {
        reason = `the ${type} is empty`;
      }
    } else if (errno === EINVAL) {
      kind = "invalid";
      reason = "the kernel refused it (EINVAL)";
      if (ARRAYS.has(this.meta.mapType) && op.includes("DELETE")) {
        reason = `the elements of an ${type} cannot be deleted (EINVAL)`;
        hint = "set them to zero instead";
      } else if (ARRAYS.has(this.meta.mapType) && flag === "noexist") {
        reason = `the elements of an ${type} always exist (EINVAL)`;
        hint = 'use flag "any" or "exist"';
      }
    } else if (errno === ENOTSUPP || errno === EOPNOTSUPP) {
      return new NotSupportedError(
        `Cannot ${what}: the kernel does not support ${op} on ${type} maps${after}`,
        {
          ...this.#init("not-supported", op, errno),
          feature: `${op} on ${type} maps`,
        },
      );
    } else {
      kind = "os";
      reason = `${errnoName(errno)}`;
    }
    const message = `Cannot ${what}: ${reason}${after}`;
    const init = this.#init(kind, op, errno, hint);
    if (kind === "not-found") return new BpfNotFoundError(message, init);
    if (kind === "exists") return new BpfAlreadyExistsError(message, init);
    return new BpfError(message, init);
  }
}

function flagsOf(options: SetOptions): bigint {
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
function unsupported(rc: number): boolean {
  return rc === -EINVAL || rc === -ENOTSUPP || rc === -EOPNOTSUPP;
}

// ---------------------------------------------------------------------------
// Cursors: one pass over a map

/**
 * Where one pass over a map stands: batch calls (with their opaque token),
 * or `BPF_MAP_GET_NEXT_KEY` and a lookup per entry.
 */
export class Cursor {
  readonly #m: MapAccess;
  #batch: boolean;
  /** The in and out batch tokens, half each. */
  readonly #cur: Uint8Array;
  readonly #curLen: bigint;
  readonly #half: number;
  #hasIn = false;
  #started = false;
  /** The last key seen (next_key). */
  readonly #prev: Uint8Array;
  readonly #next: Uint8Array;
  readonly #value: Uint8Array;
  #havePrev = false;
  /** Whether next_key walks look values up too. */
  readonly #values: boolean;
  ended = false;

  constructor(m: MapAccess, batch: boolean, values: boolean) {
    this.#m = m;
    this.#batch = batch;
    this.#values = values;
    this.#half = Math.max(m.meta.keySize, 4);
    this.#cur = new Uint8Array(2 * this.#half);
    this.#curLen = BigInt(this.#cur.length);
    this.#prev = new Uint8Array(Math.max(1, m.meta.keySize));
    this.#next = new Uint8Array(Math.max(1, m.meta.keySize));
    this.#value = new Uint8Array(Math.max(1, m.meta.valueBufSize));
  }

  /** Whether the next fill may run on the thread pool. */
  get batched(): boolean {
    return this.#batch;
  }

  /** Fills `c` with the next entries; `c.n` is 0 only at the end. */
  fill(c: Chunk): void {
    for (;;) {
      if (this.ended) {
        c.n = 0;
        return;
      }
      if (!this.#batch) {
        this.#fillNext(c);
        return;
      }
      this.#arm(c);
      const rc = this.#m.batchSync(BATCH_LOOKUP, this.#cur, this.#curLen, c);
      if (this.#done(rc, c)) return;
    }
  }

  /** As {@linkcode Cursor.fill}, with the batch call on the thread pool. */
  async fillAsync(c: Chunk): Promise<void> {
    for (;;) {
      if (this.ended || !this.#batch) {
        this.fill(c);
        return;
      }
      this.#arm(c);
      const rc = await this.#m.batchAsync(this.#cur, this.#curLen, c);
      if (this.#done(rc, c)) return;
    }
  }

  #arm(c: Chunk): void {
    c.count[0] = c.cap;
    c.count[1] = this.#hasIn ? 1 : 0;
  }

  /** Handles a batch call's result; false to call again. */
  #done(rc: number, c: Chunk): boolean {
    const n = c.count[0] ?? 0;
    if (rc === 0 || rc === -ENOENT) {
      this.#started = true;
      c.n = n;
      if (rc === -ENOENT) this.ended = true;
      else {
        this.#cur.copyWithin(0, this.#half, 2 * this.#half);
        this.#hasIn = true;
      }
      return n > 0 || this.ended;
    }
    if (rc === -ENOSPC && n === 0) {
      // A hash bucket holds more entries than the chunk: grow it.
      c.resize(c.cap * 2);
      return false;
    }
    if (!this.#started && unsupported(rc)) {
      this.#batch = false;
      return false;
    }
    throw this.#m.fail(rc, "BPF_MAP_LOOKUP_BATCH");
  }

  #fillNext(c: Chunk): void {
    const m = this.#m;
    const ks = m.meta.keySize;
    const vs = m.meta.valueBufSize;
    let j = 0;
    while (j < c.cap) {
      const rc = m.nextKey(this.#havePrev ? this.#prev : null, this.#next);
      if (rc === -ENOENT) {
        this.ended = true;
        break;
      }
      if (rc !== 0) throw m.fail(rc, "BPF_MAP_GET_NEXT_KEY");
      this.#prev.set(this.#next);
      this.#havePrev = true;
      if (!this.#values) {
        c.keys.set(this.#next.subarray(0, ks), j * ks);
        j++;
        continue;
      }
      const lr = m.lookupRaw(this.#next, this.#value);
      if (lr === -ENOENT) continue; // deleted meanwhile
      if (lr !== 0) {
        throw m.fail(
          lr,
          "BPF_MAP_LOOKUP_ELEM",
          m.decodeKey(
            new DataView(this.#next.buffer),
            this.#next,
            0,
          ),
        );
      }
      c.keys.set(this.#next.subarray(0, ks), j * ks);
      c.values.set(this.#value.subarray(0, vs), j * vs);
      j++;
    }
    c.n = j;
  }
}

// ---------------------------------------------------------------------------
// Iteration

/**
 * The entries, keys or values of a map: iterable with `for await` (the
 * next batch is read on the thread pool while this one is used) or with a
 * plain `for` (each batch read synchronously). Each iteration is a new pass
 * over the map; memory stays bounded by one or two batches.
 */
export class MapIteration<T> implements AsyncIterable<T>, Iterable<T> {
  readonly #m: MapAccess;
  readonly #mode: Mode | "chunks";
  readonly #chunk: number;

  /** Not for use: made by {@linkcode BpfMap.entries} and its siblings. */
  constructor(m: MapAccess, mode: Mode | "chunks", chunk: number) {
    this.#m = m;
    this.#mode = mode;
    this.#chunk = chunk;
  }

  /** A pass reading each batch synchronously. */
  [Symbol.iterator](): Iterator<T> {
    return new SyncWalk<T>(this.#m, this.#mode, this.#chunk);
  }

  /** A pass reading the next batch on the thread pool while this one is used. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return new AsyncWalk<T>(this.#m, this.#mode, this.#chunk);
  }

  /** Collects a pass into an array (the whole map in memory). */
  toArray(): T[] {
    return [...this];
  }
}

function itemOf(
  m: MapAccess,
  mode: Mode | "chunks",
  c: Chunk,
  i: number,
): unknown {
  const ks = c.ks;
  const vs = c.vs;
  switch (mode) {
    case "entries":
      return [
        m.decodeKey(c.keysDv, c.keys, i * ks),
        m.decodeValue(c.valuesDv, c.values, i * vs),
      ];
    case "keys":
      return m.decodeKey(c.keysDv, c.keys, i * ks);
    case "values":
      return m.decodeValue(c.valuesDv, c.values, i * vs);
    default:
      return {
        count: c.n,
        keys: c.keys,
        values: c.values,
        keySize: ks,
        valueSize: vs,
      } satisfies MapChunk;
  }
}

class SyncWalk<T> implements Iterator<T> {
  readonly #m: MapAccess;
  readonly #mode: Mode | "chunks";
  readonly #cursor: Cursor;
  #c: Chunk | undefined;
  #i = 0;
  #n = 0;

  constructor(m: MapAccess, mode: Mode | "chunks", chunk: number) {
    this.#m = m;
    this.#mode = mode;
    this.#cursor = m.cursor(mode !== "keys");
    this.#c = m.takeChunk(chunk);
  }

  next(): IteratorResult<T> {
    const c = this.#c;
    if (c === undefined) return DONE;
    if (this.#i >= this.#n) {
      try {
        this.#cursor.fill(c);
      } catch (e) {
        this.return();
        throw e;
      }
      this.#i = 0;
      this.#n = this.#mode === "chunks" && c.n > 0 ? 1 : c.n;
      if (this.#n === 0) {
        this.return();
        return DONE;
      }
    }
    return {
      value: itemOf(this.#m, this.#mode, c, this.#i++) as T,
      done: false,
    };
  }

  return(): IteratorResult<T> {
    const c = this.#c;
    this.#c = undefined;
    if (c !== undefined) this.#m.giveChunk(c);
    return DONE;
  }
}

class AsyncWalk<T> implements AsyncIterator<T> {
  readonly #m: MapAccess;
  readonly #mode: Mode | "chunks";
  readonly #cursor: Cursor;
  readonly #size: number;
  #cur: Chunk | undefined;
  #spare: Chunk | undefined;
  /** The fill of `#spare` under way, if any. */
  #pending: Promise<void> | undefined;
  #i = 0;
  #n = 0;
  #started = false;
  #finished = false;

  constructor(m: MapAccess, mode: Mode | "chunks", chunk: number) {
    this.#m = m;
    this.#mode = mode;
    this.#size = chunk;
    this.#cursor = m.cursor(mode !== "keys");
  }

  next(): Promise<IteratorResult<T>> {
    const c = this.#cur;
    if (c !== undefined && this.#i < this.#n) {
      return Promise.resolve({
        value: itemOf(this.#m, this.#mode, c, this.#i++) as T,
        done: false,
      });
    }
    return this.#advance();
  }

  async #advance(): Promise<IteratorResult<T>> {
    try {
      for (;;) {
        if (this.#finished) return DONE;
        if (!this.#started) {
          this.#started = true;
          this.#cur = this.#m.takeChunk(this.#size);
          await this.#cursor.fillAsync(this.#cur);
        } else if (this.#pending !== undefined) {
          const pending = this.#pending;
          this.#pending = undefined;
          await pending;
          [this.#cur, this.#spare] = [this.#spare, this.#cur];
        } else if (this.#cursor.ended) {
          await this.#finish();
          return DONE;
        } else {
          await this.#cursor.fillAsync(this.#cur!);
        }
        const c = this.#cur!;
        this.#i = 0;
        this.#n = this.#mode === "chunks" && c.n > 0 ? 1 : c.n;
        // Read the next batch while this one is used.
        if (!this.#cursor.ended && this.#cursor.batched) {
          this.#spare ??= new Chunk(c.cap, c.ks, c.vs);
          const p = this.#cursor.fillAsync(this.#spare);
          p.catch(() => {}); // awaited later, or dropped by return()
          this.#pending = p;
        }
        if (this.#n > 0) {
          return {
            value: itemOf(this.#m, this.#mode, c, this.#i++) as T,
            done: false,
          };
        }
      }
    } catch (e) {
      await this.#finish();
      throw e;
    }
  }

  async #finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const pending = this.#pending;
    this.#pending = undefined;
    // The buffers of a call under way are the core's until it settles.
    if (pending !== undefined) await pending.catch(() => {});
    if (this.#cur !== undefined) this.#m.giveChunk(this.#cur);
    this.#cur = undefined;
    this.#spare = undefined;
  }

  async return(): Promise<IteratorResult<T>> {
    await this.#finish();
    return DONE;
  }
}

// ---------------------------------------------------------------------------
// Ring buffers

const INTERNAL: unique symbol = Symbol("bpfx.internal");

/** A source whose batches are records, each after its 4-byte length. */
class RingRecords extends Source<Uint8Array> {
  readonly #view: DataView;

  constructor(handle: number, path: string, size: number, owner: object) {
    const buffer = new Uint8Array(size);
    super(handle, { what: `ring buffer "${path}"`, owner, buffer, path });
    this.#view = new DataView(buffer.buffer);
  }

  protected decode(batch: Uint8Array): Uint8Array[] {
    // Copy every record out: the next call writes the same buffer.
    const records: Uint8Array[] = [];
    for (let at = 0; at + 4 <= batch.length;) {
      const len = this.#view.getUint32(at, LE);
      records.push(copyBytes(batch, at + 4, len));
      at += 4 + len;
    }
    return records;
  }
}

/**
 * A ring buffer (`BPF_MAP_TYPE_RINGBUF`) read through the data lane: its
 * records as an async iterable of `Uint8Array`s, in the order the programs
 * committed them. {@linkcode RingBuf.close} (or `using`) ends the iteration
 * at once, and ending the iteration (`break`) closes it.
 *
 * Needs what {@linkcode openRingBuf} needs.
 */
export class RingBuf
  implements AsyncIterable<Uint8Array>, Disposable, AsyncDisposable {
  readonly #lane: RingRecords;
  readonly #path: string;

  /** Not for use: open one with {@linkcode openRingBuf}. */
  constructor(
    key: typeof INTERNAL,
    handle: number,
    path: string,
    size: number,
  ) {
    if (key !== INTERNAL) {
      throw new TypeError("Cannot construct a RingBuf: use openRingBuf()");
    }
    this.#path = path;
    this.#lane = new RingRecords(handle, path, size, this);
  }

  /** The ring buffer's pin. */
  get path(): string {
    return this.#path;
  }

  /** Whether it was closed. */
  get closed(): boolean {
    return this.#lane.closed;
  }

  /**
   * The records, as they come: each a copy of the record's bytes. One
   * iteration at a time (another is refused with kind `busy`); it ends when
   * the ring buffer is closed.
   *
   * @throws {BpfError} when waiting for records fails.
   */
  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    return this.#lane.iterate();
  }

  /** Wakes the wait under way (the iteration ends), then releases the handle. */
  close(): void {
    this.#lane.close();
  }

  /** Closes the ring buffer, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes it and waits until the core has let go of its buffers. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#lane.settled();
  }
}

/**
 * Opens the ring buffer pinned at `path` for reading its records. A map of
 * another type is refused (kind `wrong-kind`).
 *
 * Needs `--allow-ffi`, and root or CAP_BPF.
 *
 * @example Print each record's size
 * ```ts ignore
 * import { openRingBuf } from "./mod.ts";
 * using ring = openRingBuf("/sys/fs/bpf/app/maps/events");
 * Deno.addSignalListener("SIGINT", () => ring.close());
 * for await (const record of ring) console.log(record.length);
 * ```
 *
 * @throws {BpfNotFoundError} when nothing is pinned at `path`.
 */
export function openRingBuf(path: string): RingBuf {
  const { handle, type, map } = call<
    { handle: number; type: string; map?: MapMeta }
  >("open", { path, kind: "map" });
  core().bpfx_close(handle);
  if (map === undefined || map.mapType !== T.ringbuf) {
    throw new BpfError(
      `Cannot read ring buffer records from "${path}": the map is a ${type}, not a ringbuf`,
      {
        kind: "wrong-kind",
        op: "open",
        path,
        hint: "read its entries with openMap() (bpfx map dump)",
      },
    );
  }
  const { handle: ring } = call<{ handle: number }>("ringbuf_open", { path });
  // A record can be as big as the ring less its header; most are small.
  const size = Math.min(
    Math.max(64 * 1024, map.maxEntries + 8),
    16 * 1024 * 1024,
  );
  return new RingBuf(INTERNAL, ring, path, size);
}
