/**
 * A core handle with one owner, closed with `bpfx_close` by `close()` or,
 * should the owner be collected unclosed, by the garbage collector.
 *
 * @module
 */

import { core } from "./ffi.ts";

/** Closes the handles of owners collected without `close()`. */
const leaks = new FinalizationRegistry<number>((handle) => {
  core().bpfx_close(handle);
});

/** The handle an object owns, until it is closed or taken away. */
export class OwnedHandle {
  #handle: number | undefined;
  readonly #owner: object;

  constructor(handle: number, owner: object) {
    this.#handle = handle;
    this.#owner = owner;
    leaks.register(owner, handle, owner);
  }

  /** The handle, or undefined once closed or taken. */
  get value(): number | undefined {
    return this.#handle;
  }

  /** Gives the handle up without closing it (where ownership moves). */
  take(): number | undefined {
    const handle = this.#handle;
    if (handle === undefined) return undefined;
    this.#handle = undefined;
    leaks.unregister(this.#owner);
    return handle;
  }

  /** Releases the handle. Calling it again does nothing. */
  close(): void {
    const handle = this.take();
    if (handle !== undefined) core().bpfx_close(handle);
  }
}
