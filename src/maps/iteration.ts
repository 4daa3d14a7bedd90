/**
 * Iterating a map: its entries, keys, values or raw batches
 * ({@linkcode MapIteration}), synchronously or with the next batch read on
 * the thread pool while this one is used.
 *
 * @module
 */

import type { MapAccess } from "./access.ts";
import { Chunk } from "./_buffers.ts";
import { type Cursor, cursorOf } from "./cursor.ts";
import type { IterateOptions, MapChunk } from "./types.ts";

/** Which of a map's entries an iteration gives. */
export type Mode = "entries" | "keys" | "values";

const DONE: IteratorReturnResult<undefined> = Object.freeze({
  value: undefined,
  done: true,
});

/** The entries, keys or values of map `m`, read in chunks. */
export function iterate<T>(
  m: MapAccess,
  mode: Mode,
  options: IterateOptions = {},
): MapIteration<T> {
  m.keyedOrThrow("BPF_MAP_GET_NEXT_KEY");
  return new MapIteration<T>(m, mode, m.chunkSize(options));
}

/** The raw batches of entries of map `m`. */
export function chunks(
  m: MapAccess,
  options: IterateOptions = {},
): MapIteration<MapChunk> {
  m.keyedOrThrow("BPF_MAP_GET_NEXT_KEY");
  return new MapIteration<MapChunk>(m, "chunks", m.chunkSize(options));
}

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
    this.#cursor = cursorOf(m, mode !== "keys");
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
    this.#cursor = cursorOf(m, mode !== "keys");
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
