/**
 * One pass over a map ({@linkcode Cursor}): batch calls where the map type
 * has them, `BPF_MAP_GET_NEXT_KEY` and a lookup per key otherwise.
 *
 * @module
 */

import type { MapAccess } from "./access.ts";
import type { Chunk } from "./_buffers.ts";
import {
  BATCH_LOOKUP,
  BATCHED,
  ENOENT,
  ENOSPC,
  unsupported,
} from "./_consts.ts";

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
    throw this.#m.errors.fail(rc, "BPF_MAP_LOOKUP_BATCH");
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
      if (rc !== 0) throw m.errors.fail(rc, "BPF_MAP_GET_NEXT_KEY");
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
        throw m.errors.fail(
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

/**
 * A cursor over map `m`: batch calls, or next_key and (unless `values` is
 * false) a lookup per key.
 */
export function cursorOf(m: MapAccess, values = true): Cursor {
  return new Cursor(m, BATCHED.has(m.meta.mapType), values);
}
