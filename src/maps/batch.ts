/**
 * Batches of updates and deletes: {@linkcode setMany},
 * {@linkcode deleteMany} and {@linkcode clear}, a chunk of entries per
 * `BPF_MAP_UPDATE_BATCH` or `BPF_MAP_DELETE_BATCH` call where the map type
 * has them, and one call per entry where it does not.
 *
 * @module
 */

import type { MapAccess } from "./access.ts";
import type { Chunk } from "./_buffers.ts";
import {
  ARRAYS,
  BATCH_DELETE,
  BATCH_UPDATE,
  BATCHED,
  ENOENT,
  flagsOf,
  KEYLESS,
  T,
  unsupported,
} from "./_consts.ts";
import { cursorOf } from "./cursor.ts";
import { pop } from "./queues.ts";
import type { SetOptions } from "./types.ts";

/**
 * Sets many entries of `m`, a chunk per batch call (one call each where the
 * map type has no batches). Returns how many were set.
 */
export function setMany(
  m: MapAccess,
  entries: Iterable<readonly [unknown, unknown]>,
  options?: SetOptions,
): number {
  m.keyedOrThrow("BPF_MAP_UPDATE_BATCH");
  const flags = options === undefined ? 0n : flagsOf(options);
  const c = m.takeChunk(m.chunkSize({}));
  const cur = new Uint8Array(2 * Math.max(m.meta.keySize, 4));
  const curLen = BigInt(cur.length);
  let batched = BATCHED.has(m.meta.mapType);
  let total = 0;
  let n = 0;
  const ks = m.meta.keySize;
  const vs = m.meta.valueBufSize;
  const flush = () => {
    if (n === 0) return;
    if (batched) {
      c.count[0] = n;
      c.count[1] = 0;
      const rc = m.batchSync(BATCH_UPDATE, cur, curLen, c, flags);
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
        const key = m.decodeKey(c.keysDv, c.keys, done * ks);
        throw m.errors.fail(
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
      const rc = m.updateRaw(
        c.keys.subarray(i * ks, i * ks + ks),
        c.values.subarray(i * vs, i * vs + vs),
        flags,
      );
      if (rc !== 0) {
        const key = m.decodeKey(c.keysDv, c.keys, i * ks);
        throw m.errors.fail(
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
      m.encodeKeyAt(
        key,
        c.keysDv,
        c.keys,
        n * ks,
        "BPF_MAP_UPDATE_BATCH",
      );
      m.encodeValueAt(
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
    m.giveChunk(c);
  }
  return total;
}

/** Deletes many keys of `m` (missing keys are skipped); returns how many. */
export function deleteMany(m: MapAccess, keys: Iterable<unknown>): number {
  m.keyedOrThrow("BPF_MAP_DELETE_BATCH");
  const c = m.takeChunk(m.chunkSize({}));
  try {
    let deleted = 0;
    let n = 0;
    for (const key of keys) {
      m.encodeKeyAt(
        key,
        c.keysDv,
        c.keys,
        n * m.meta.keySize,
        "BPF_MAP_DELETE_BATCH",
      );
      if (++n === c.cap) {
        deleted += deleteChunk(m, c, n);
        n = 0;
      }
    }
    deleted += deleteChunk(m, c, n);
    return deleted;
  } finally {
    m.giveChunk(c);
  }
}

/** Deletes the first `n` keys of `c` (those missing are skipped). */
function deleteChunk(m: MapAccess, c: Chunk, n: number): number {
  const ks = m.meta.keySize;
  let deleted = 0;
  let start = 0;
  let batched = BATCHED.has(m.meta.mapType) &&
    !ARRAYS.has(m.meta.mapType);
  const cur = new Uint8Array(2 * Math.max(ks, 4));
  const curLen = BigInt(cur.length);
  while (start < n) {
    if (batched) {
      if (start > 0) c.keys.copyWithin(0, start * ks, n * ks);
      n -= start;
      start = 0;
      c.count[0] = n;
      c.count[1] = 0;
      const rc = m.batchSync(BATCH_DELETE, cur, curLen, c);
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
      const key = m.decodeKey(c.keysDv, c.keys, done * ks);
      throw m.errors.fail(
        rc,
        "BPF_MAP_DELETE_BATCH",
        key,
        undefined,
        undefined,
        deleted,
      );
    }
    const rc = m.deleteRaw(c.keys.subarray(start * ks, start * ks + ks));
    if (rc === 0) deleted++;
    else if (rc !== -ENOENT) {
      const key = m.decodeKey(c.keysDv, c.keys, start * ks);
      throw m.errors.fail(
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

/**
 * Removes every entry of `m` (arrays: sets every element to zero bytes;
 * queues and stacks: pops every element); returns how many.
 */
export function clear(m: MapAccess): number {
  const type = m.meta.mapType;
  if (KEYLESS.has(type) && type !== T.bloomFilter) {
    let n = 0;
    while (pop(m) !== undefined) n++;
    return n;
  }
  m.keyedOrThrow("BPF_MAP_DELETE_ELEM");
  if (ARRAYS.has(type)) return zeroArray(m);
  const cursor = cursorOf(m);
  const c = m.takeChunk(m.chunkSize({}));
  let deleted = 0;
  try {
    for (;;) {
      cursor.fill(c);
      deleted += deleteChunk(m, c, c.n);
      if (cursor.ended) return deleted;
    }
  } finally {
    m.giveChunk(c);
  }
}

/** Sets every element of an array to zero bytes. */
function zeroArray(m: MapAccess): number {
  const max = m.meta.maxEntries;
  const zero = new Uint8Array(m.meta.valueBufSize);
  function* all(): Generator<[Uint8Array, Uint8Array]> {
    const key = new Uint8Array(4);
    const dv = new DataView(key.buffer);
    for (let i = 0; i < max; i++) {
      dv.setUint32(0, i, true);
      yield [key, zero];
    }
  }
  // Raw bytes go in as they are, whatever the codecs.
  return setMany(m, all());
}
