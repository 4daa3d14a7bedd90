/**
 * The data lane of one open map ({@linkcode MapAccess}): its buffers, the
 * codecs of its keys and values (from its BTF, a caller's codec, LPM trie
 * keys without BTF, or raw bytes), the element operations behind
 * {@linkcode BpfMap} (get, set, delete), and the raw calls that batches,
 * queues and iterations are made of.
 *
 * @module
 */

import { call } from "../_call.ts";
import {
  codecNode,
  compileNode,
  lpmNode,
  type Node,
  rawBytesNode,
} from "../codec/mod.ts";
import { BpfError } from "../errors.ts";
import { coreGroup } from "../ffi.ts";
import { Chunk, PointerCache } from "./_buffers.ts";
import {
  BATCH_LOOKUP,
  DEFAULT_CHUNK,
  EINVAL,
  ENOENT,
  flagsOf,
  MAX_CHUNK_BYTES,
  type Op,
  RINGS,
  T,
} from "./_consts.ts";
import { MapErrors, type MapIdentity, text } from "./_errors.ts";
import { perCpuNode } from "./per_cpu.ts";
import type {
  IterateOptions,
  MapBtf,
  MapMeta,
  MapOptions,
  SetOptions,
} from "./types.ts";

/**
 * The data lane of one open map: buffers, codecs and the calls. Made by
 * {@linkcode BpfMap} on first use; not exported from the package's `mod.ts`.
 */
export class MapAccess {
  readonly meta: MapMeta;
  /** How the map's failures read. */
  readonly errors: MapErrors;
  readonly #h: number;
  readonly #lib: ReturnType<typeof coreGroup<"maps">>;
  readonly #id: MapIdentity;
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

    this.errors = new MapErrors(id, meta, keyNode, checkOpen);
    for (
      const [what, node, size] of [
        ["key", keyNode, meta.keySize],
        ["value", valNode, meta.valueSize],
      ] as const
    ) {
      if (node.size !== size) {
        throw new BpfError(
          `Cannot use a ${what} codec of ${node.size} bytes for map "${id.name}": its ${what}s are ${size} bytes`,
          this.errors.init("invalid", "open", EINVAL),
        );
      }
    }
    // Per-CPU maps take and give an array of one value per possible CPU.
    if (meta.perCpu) valNode = perCpuNode(valNode, meta.cpus);
    this.#keyNode = keyNode;
    this.#valNode = valNode;
    this.#keyHoles = keyNode.holes;
    this.#keySize = meta.keySize;
    this.#valHoles = valNode.holes;
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
    throw this.errors.fail(rc, "BPF_MAP_LOOKUP_ELEM", key);
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
          this.errors.init("invalid", "BPF_MAP_LOOKUP_ELEM", EINVAL),
        );
      }
      target = out.subarray(0, size);
    }
    const rc = this.#lookup(k, target);
    if (rc === 0) return true;
    if (rc === -ENOENT) return false;
    throw this.errors.fail(rc, "BPF_MAP_LOOKUP_ELEM", key);
  }

  has(key: unknown): boolean {
    const k = this.#key(key, "BPF_MAP_LOOKUP_ELEM");
    const rc = this.#lookup(k, this.#valBuf);
    if (rc === 0) return true;
    if (rc === -ENOENT) return false;
    throw this.errors.fail(rc, "BPF_MAP_LOOKUP_ELEM", key);
  }

  /** Encodes `key` and `value` as `set()` does, and writes nothing. */
  encodes(key: unknown, value: unknown): void {
    this.#key(key, "BPF_MAP_UPDATE_ELEM");
    this.valueBytes(value, "BPF_MAP_UPDATE_ELEM");
  }

  set(key: unknown, value: unknown, options?: SetOptions): void {
    const k = this.#key(key, "BPF_MAP_UPDATE_ELEM");
    const v = this.valueBytes(value, "BPF_MAP_UPDATE_ELEM");
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
      throw this.errors.fail(rc, "BPF_MAP_UPDATE_ELEM", key, options?.flag);
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
    if (rc !== 0) throw this.errors.fail(rc, "BPF_MAP_DELETE_ELEM", key);
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
    throw this.errors.fail(rc, "BPF_MAP_LOOKUP_AND_DELETE_ELEM", key);
  }

  // --- buffers and raw calls, for batches, queues and iterations -----------

  /** The entries per batch call for `options` (checked). */
  chunkSize(options: IterateOptions): number {
    const fit = Math.max(
      1,
      Math.floor(MAX_CHUNK_BYTES / Math.max(1, this.meta.valueBufSize)),
    );
    const asked = options.chunk ?? DEFAULT_CHUNK;
    if (!Number.isSafeInteger(asked) || asked < 1) {
      throw new BpfError(
        `Cannot read map "${this.#id.name}" in chunks of ${asked}: a chunk is a positive integer`,
        this.errors.init("invalid", "BPF_MAP_LOOKUP_BATCH", EINVAL),
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

  /** `BPF_MAP_UPDATE_ELEM` of raw bytes; a `null` key for queues and stacks. */
  updateRaw(key: Uint8Array | null, value: Uint8Array, flags: bigint): number {
    return this.#lib.bpfx_map_update(
      this.#h,
      key,
      key === null ? 0n : this.#keyLen,
      value,
      this.#valLen,
      flags,
    );
  }

  /** `BPF_MAP_DELETE_ELEM` of raw key bytes. */
  deleteRaw(key: Uint8Array): number {
    return this.#lib.bpfx_map_delete(this.#h, key, this.#keyLen);
  }

  /**
   * A lookup with no key into the element buffer: the front of a queue or
   * stack, with `take` taken off it. Returns the call's result;
   * {@linkcode MapAccess.frontValue} decodes what it found.
   */
  lookupFront(take: boolean): number {
    const lookup = take
      ? this.#lib.bpfx_map_lookup_and_delete
      : this.#lib.bpfx_map_lookup;
    return lookup(this.#h, null, 0n, this.#valBuf, this.#valLen, 0n);
  }

  /** The value {@linkcode MapAccess.lookupFront} found, decoded. */
  frontValue(): unknown {
    return this.#decodeValue(this.#valDv, this.#valBuf, 0);
  }

  // --- encoding -----------------------------------------------------------

  /** The key's bytes: the caller's `Uint8Array`, or the encoded key. */
  #key(key: unknown, op: Op): Uint8Array {
    if (!this.#keyed) throw this.errors.notKeyed(op);
    if (key instanceof Uint8Array) {
      if (key.length !== this.#keySize) {
        throw this.errors.size("key", key.length, op, key);
      }
      return key;
    }
    this.encodeKeyAt(key, this.#keyDv, this.#keyBuf, 0, op);
    return this.#keyBuf;
  }

  encodeKeyAt(
    key: unknown,
    dv: DataView,
    u8: Uint8Array,
    off: number,
    op: Op,
  ): void {
    const size = this.#keySize;
    if (key instanceof Uint8Array) {
      if (key.length !== size) {
        throw this.errors.size("key", key.length, op, key);
      }
      u8.set(key, off);
      return;
    }
    if (this.#keyHoles) u8.fill(0, off, off + size);
    try {
      this.#keyNode.enc(key, dv, u8, off);
    } catch (e) {
      throw this.errors.encode("key", e);
    }
  }

  /** The value's bytes: the caller's `Uint8Array`, or the encoded value. */
  valueBytes(value: unknown, op: Op): Uint8Array {
    if (value instanceof Uint8Array) {
      if (value.length !== this.meta.valueBufSize) {
        throw this.errors.size("value", value.length, op, undefined);
      }
      return value;
    }
    this.encodeValueAt(value, this.#valDv, this.#valBuf, 0, op);
    return this.#valBuf;
  }

  encodeValueAt(
    value: unknown,
    dv: DataView,
    u8: Uint8Array,
    off: number,
    op: Op,
  ): void {
    const size = this.meta.valueBufSize;
    if (value instanceof Uint8Array) {
      if (value.length !== size) {
        throw this.errors.size("value", value.length, op, undefined);
      }
      u8.set(value, off);
      return;
    }
    if (this.#valHoles) u8.fill(0, off, off + size);
    try {
      this.#valNode.enc(value, dv, u8, off);
    } catch (e) {
      throw this.errors.encode("value", e);
    }
  }

  #decodeValue(dv: DataView, u8: Uint8Array, off: number): unknown {
    return this.#valNode.dec(dv, u8, off);
  }

  // --- checks -------------------------------------------------------------

  /** Throws unless the map's elements have keys. */
  keyedOrThrow(op: Op): void {
    if (!this.#keyed) throw this.errors.notKeyed(op);
  }

  /**
   * A key as every message shows it (see {@linkcode MapErrors.keyText}).
   */
  keyText(key: unknown): string {
    return this.errors.keyText(key);
  }
}
