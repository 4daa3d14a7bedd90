/**
 * Buffers the data lane reuses from call to call: a batch's keys and values
 * ({@linkcode Chunk}), and the pointer of a buffer passed again
 * ({@linkcode PointerCache}).
 *
 * @module
 */

/** Buffers for one batch of entries, reused from call to call. */
export class Chunk {
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
export class PointerCache {
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
