/**
 * Ring buffers (`BPF_MAP_TYPE_RINGBUF`): their records as an async iterable
 * ({@linkcode RingBuf}, {@linkcode openRingBuf}).
 *
 * @module
 */

import { call } from "../_call.ts";
import { copyBytes, LE } from "../codec/mod.ts";
import { BpfError } from "../errors.ts";
import { core } from "../ffi.ts";
import { Source } from "../_source.ts";
import { T } from "./_consts.ts";
import type { MapMeta } from "./types.ts";

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
