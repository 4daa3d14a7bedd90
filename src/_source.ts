/**
 * The loop every data-lane source shares: a handle read through
 * `bpfx_next`, one nonblocking call at a time, each bounded to a second,
 * and ended by `close()` (`bpfx_wake`, then `bpfx_close`). Subclasses only
 * decode a batch: JSON lines for the event sources, length-prefixed records
 * for ring buffers.
 *
 * @module
 */

import {
  type AnyBpfError,
  BpfError,
  type CoreErrorObject,
  fromCoreObject,
} from "./errors.ts";
import { core } from "./ffi.ts";

/** Room for the JSON error object of a failed wait. */
const ERROR_BUFFER = 4096;
/** How long one call waits in the core before it returns empty-handed. */
const WAIT_MS = 1000;
/** What `bpfx_next` returns once `bpfx_wake` stopped the source. */
const WOKEN = -2n;
/** What `bpfx_next` returns on failure, with the error in the error buffer. */
const FAILED = -1n;

/** Closes the handles of sources collected without `close()`. */
const leaks = new FinalizationRegistry<number>((handle) => {
  core().bpfx_wake(handle);
  core().bpfx_close(handle);
});

const decoder = new TextDecoder();

/** What a source is, for its errors. */
export interface SourceInit {
  /** What is read, for messages: `Cannot read ${what}: …`. */
  what: string;
  /** The public object the leak registry watches (kept alive while iterated). */
  owner: object;
  /** The buffer each call's batch is written to, reused for every call. */
  buffer: Uint8Array;
  /** The path the source's errors name, if any. */
  path?: string;
}

/**
 * The handle, the two buffers, the call in flight, and the loop that turns
 * each batch into values with {@linkcode Source.decode}.
 */
export abstract class Source<T> {
  #handle: number | undefined;
  readonly #what: string;
  readonly #path: string | undefined;
  /** `buf`: one call's batch; decoded before the next call reuses it. */
  readonly #buffer: Uint8Array;
  /** `err`: the JSON error of a failed call. */
  readonly #error = new Uint8Array(ERROR_BUFFER);
  /** The call under way, held (with the buffers, by `this`) until it settles. */
  #inFlight: Promise<bigint> | undefined;
  #iterating = false;
  readonly #owner: object;

  constructor(handle: number, init: SourceInit) {
    this.#handle = handle;
    this.#what = init.what;
    this.#path = init.path;
    this.#buffer = init.buffer;
    this.#owner = init.owner;
    leaks.register(init.owner, handle, init.owner);
  }

  /**
   * The values of one batch, `batch` being the start of the buffer the core
   * wrote. They must not share its memory: the next call writes it again.
   */
  protected abstract decode(batch: Uint8Array): T[];

  /** What is read, for the messages of subclasses. */
  protected get what(): string {
    return this.#what;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  async *iterate(): AsyncGenerator<T, void, undefined> {
    if (this.#iterating) {
      throw new BpfError(
        `Cannot read ${this.#what}: another iteration is under way`,
        { kind: "busy", op: "next", errno: 16, ...this.#pathField() }, // EBUSY
      );
    }
    this.#iterating = true;
    try {
      for (;;) {
        const handle = this.#handle;
        if (handle === undefined) return;
        const pending = core().bpfx_next(
          handle,
          WAIT_MS,
          this.#buffer,
          BigInt(this.#buffer.length),
          this.#error,
          BigInt(this.#error.length),
        );
        this.#inFlight = pending;
        let n: bigint;
        try {
          n = await pending;
        } finally {
          this.#inFlight = undefined;
        }
        if (this.#handle === undefined || n === WOKEN) return;
        if (n === FAILED) throw this.#nextError();
        if (n <= 0n) continue;
        // Decode the whole batch first: the next call writes the same buffer.
        const items = this.decode(this.#buffer.subarray(0, Number(n)));
        for (const item of items) {
          yield item;
          if (this.#handle === undefined) return;
        }
      }
    } finally {
      this.#iterating = false;
      this.close();
    }
  }

  /** Wakes the call under way (it returns -2), then releases the handle. */
  close(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    leaks.unregister(this.#owner);
    const lib = core();
    lib.bpfx_wake(handle);
    lib.bpfx_close(handle);
  }

  /** Resolves once no call is in flight: the core has let go of the source. */
  async settled(): Promise<void> {
    await this.#inFlight?.catch(() => {});
  }

  #pathField(): { path?: string } {
    return this.#path === undefined ? {} : { path: this.#path };
  }

  #nextError(): AnyBpfError {
    const end = this.#error.indexOf(0);
    const text = decoder.decode(
      this.#error.subarray(0, end === -1 ? this.#error.length : end),
    );
    try {
      return fromCoreObject(JSON.parse(text) as CoreErrorObject);
    } catch {
      return new BpfError(`Cannot read ${this.#what}: ${text}`, {
        kind: "os",
        op: "next",
        ...this.#pathField(),
      });
    }
  }
}
