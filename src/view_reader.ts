/**
 * Reading views: {@linkcode openView} opens a view (or any file the core
 * can read) for reading through the data lane, and a
 * {@linkcode ViewReader} gives bytes, a byte stream, lines or the whole
 * text; {@linkcode readView} reads it all at once. Reads run on Deno's
 * blocking thread pool (nonblocking FFI calls) and return promises.
 *
 * @module
 */

import { call } from "./_call.ts";
import {
  type AnyBpfError,
  BpfError,
  type CoreErrorObject,
  fromCoreObject,
} from "./errors.ts";
import { core } from "./ffi.ts";
import { OwnedHandle } from "./_owned.ts";

/** The reader's own buffer: seq_file gives at most 8 pages per read. */
const READ_BUFFER = 64 * 1024;
/** Room for the JSON error object of a failed read. */
const ERROR_BUFFER = 4096;

const INTERNAL: unique symbol = Symbol("bpfx.internal");

/**
 * What an error thrown by {@linkcode ViewReader.text},
 * {@linkcode ViewReader.lines} or {@linkcode readView} carries besides its
 * bpfx error fields: the bytes read before the read that failed and not
 * handed out yet (all of them for `text()`, the unfinished line for
 * `lines()`). A cgroup walk the kernel cuts short after one read session
 * fails this way, with its first session's output in `partial`.
 */
export interface PartialRead {
  /** The bytes read before the failure; maybe empty. */
  readonly partial: Uint8Array;
}

/** `error` with `partial` set to `bytes` (a bpfx error is an object). */
function withPartial(error: unknown, bytes: Uint8Array): unknown {
  if (typeof error === "object" && error !== null) {
    Object.defineProperty(error, "partial", {
      value: bytes,
      enumerable: true,
    });
  }
  return error;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

const errorDecoder = new TextDecoder();

/**
 * A view (or any file the core can read) held open for reading. Each read
 * runs the iterator program over the objects that follow: reading to the end
 * gives one full pass. Close it with {@linkcode ViewReader.close} or `using`.
 *
 * One read runs at a time: {@linkcode ViewReader.read},
 * {@linkcode ViewReader.text}, {@linkcode ViewReader.lines} and
 * {@linkcode ViewReader.readable} refuse to start while another is under way
 * (error kind `busy`).
 */
export class ViewReader implements Disposable {
  readonly #handle: OwnedHandle;
  readonly #path: string;
  /** The buffer `text()`, `lines()` and `readable` read into, reused. */
  #ended = false;
  readonly #buffer = new Uint8Array(READ_BUFFER);
  readonly #error = new Uint8Array(ERROR_BUFFER);
  /** The buffer of the read under way, held until the read settles. */
  #inFlight: Uint8Array | undefined;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;

  /** Not for use: open readers with {@linkcode openView}. */
  constructor(key: typeof INTERNAL, handle: number, path: string) {
    if (key !== INTERNAL) {
      throw new TypeError("Cannot construct a ViewReader: use openView()");
    }
    this.#handle = new OwnedHandle(handle, this);
    this.#path = path;
  }

  /** The path the reader was opened on. */
  get path(): string {
    return this.#path;
  }

  /** Whether the reader was closed. */
  get closed(): boolean {
    return this.#handle.value === undefined;
  }

  /**
   * Reads up to `buf.length` bytes into `buf` and returns how many, or
   * `null` at the end of the view. A read with an empty `buf` returns 0.
   * The core writes straight into `buf`, which must not be read or
   * changed until the promise settles.
   *
   * A read of the view that fails after earlier bytes were read gives those
   * bytes first: this call returns them, and the next one throws.
   *
   * @throws {BpfError} when the reader is closed, another read is under way
   * (kind `busy`), or the read fails (for example E2BIG when the program's
   * output for one object exceeds the iterator's buffer).
   */
  async read(buf: Uint8Array): Promise<number | null> {
    const handle = this.#use("read");
    if (this.#inFlight !== undefined) {
      throw new BpfError(
        `Cannot read view "${this.#path}": another read is under way`,
        { kind: "busy", op: "read", errno: 16, path: this.#path },
      );
    }
    if (buf.length === 0) return 0;
    // The core fills the buffer unless the view ended: a short read means
    // the end, and the next read need not cross the FFI to learn it.
    if (this.#ended) return null;
    this.#inFlight = buf;
    // The core writes an error here with a short count when a read failed
    // after bytes were read: not the end, and the next read reports it.
    this.#error[0] = 0;
    try {
      const n = await core().bpfx_read(
        handle,
        buf,
        BigInt(buf.length),
        this.#error,
        BigInt(this.#error.length),
      );
      if (n < 0n) throw this.#readError();
      if (n < BigInt(buf.length) && this.#error[0] === 0) this.#ended = true;
      return n === 0n ? null : Number(n);
    } finally {
      this.#inFlight = undefined;
    }
  }

  /**
   * The view's bytes as a byte stream, from where the reader is now to the
   * end. A BYOB reader gets the bytes written straight into its buffers;
   * a default reader gets one new chunk per read. Like `Deno.FsFile`'s, the
   * stream closes the reader when it ends, fails or is cancelled.
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      pull: async (controller) => {
        try {
          const request = controller.byobRequest;
          if (request !== null && request.view !== null) {
            const view = request.view;
            const n = await this.read(
              new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
            );
            if (n === null) {
              this.close();
              controller.close();
              request.respond(0);
            } else {
              request.respond(n);
            }
            return;
          }
          const n = await this.read(this.#buffer);
          if (n === null) {
            this.close();
            controller.close();
          } else {
            // enqueue() transfers the chunk's buffer: hand over a copy.
            controller.enqueue(this.#buffer.slice(0, n));
          }
        } catch (error) {
          this.close();
          throw error;
        }
      },
      cancel: () => this.close(),
    });
  }

  /**
   * The view's text, line by line, without the line ends (`\n`, or `\r\n`),
   * from where the reader is now to the end. A last line without an end is
   * given too. Invalid UTF-8 becomes U+FFFD.
   *
   * @throws {BpfError} when a read fails, after the lines read before it;
   * the error's `partial` ({@linkcode PartialRead}) holds the bytes of the
   * unfinished line.
   */
  async *lines(): AsyncIterable<string> {
    const decoder = new TextDecoder();
    let rest = "";
    for (;;) {
      let n;
      try {
        n = await this.read(this.#buffer);
      } catch (error) {
        // The lines read so far were given; the unfinished one goes with
        // the error.
        throw withPartial(error, new TextEncoder().encode(rest));
      }
      if (n === null) break;
      rest += decoder.decode(this.#buffer.subarray(0, n), { stream: true });
      let start = 0;
      for (let end; (end = rest.indexOf("\n", start)) !== -1; start = end + 1) {
        yield rest.charCodeAt(end - 1) === 13 && end > start
          ? rest.slice(start, end - 1)
          : rest.slice(start, end);
      }
      rest = rest.slice(start);
    }
    rest += decoder.decode();
    if (rest !== "") yield rest.endsWith("\r") ? rest.slice(0, -1) : rest;
  }

  /**
   * Reads from where the reader is now to the end and returns the text.
   * Invalid UTF-8 becomes U+FFFD.
   *
   * @throws {BpfError} when a read fails; the error's `partial`
   * ({@linkcode PartialRead}) holds the bytes read before it.
   */
  async text(): Promise<string> {
    const decoder = new TextDecoder();
    const chunks: Uint8Array[] = [];
    let text = "";
    for (;;) {
      let n;
      try {
        n = await this.read(this.#buffer);
      } catch (error) {
        throw withPartial(error, concat(chunks));
      }
      if (n === null) break;
      const chunk = this.#buffer.slice(0, n);
      chunks.push(chunk);
      text += decoder.decode(chunk, { stream: true });
    }
    return text + decoder.decode();
  }

  /**
   * Releases the reader's handle. Calling it again does nothing. A read
   * under way finishes first, in the core.
   */
  close(): void {
    this.#handle.close();
  }

  /** Releases the handle, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #use(verb: string): number {
    const handle = this.#handle.value;
    if (handle === undefined) {
      throw new BpfError(
        `Cannot ${verb} view "${this.#path}": the reader is closed`,
        { kind: "invalid", op: "handle", errno: 9, path: this.#path },
      );
    }
    return handle;
  }

  /** The error the core wrote to the error buffer, as a bpfx error. */
  #readError(): AnyBpfError {
    const end = this.#error.indexOf(0);
    const text = errorDecoder.decode(
      this.#error.subarray(0, end === -1 ? this.#error.length : end),
    );
    let object: CoreErrorObject;
    try {
      object = JSON.parse(text);
    } catch {
      return new BpfError(`Cannot read view "${this.#path}": ${text}`, {
        kind: "os",
        op: "read",
        path: this.#path,
      });
    }
    object.path ??= this.#path;
    return fromCoreObject(object);
  }

  /** How `console.log` shows the reader. */
  [Symbol.for("Deno.customInspect")](): string {
    return `ViewReader { path: ${JSON.stringify(this.#path)}${
      this.closed ? ", closed" : ""
    } }`;
  }
}

/**
 * Opens the view at `path` for reading (a pin, or a symlink to one such as
 * those {@linkcode attach} makes; any file the core can read works). The
 * core opens and reads the file, so no `--allow-read` is needed.
 *
 * Needs `--allow-ffi`, and read access to the pin (root by default).
 *
 * @throws {BpfNotFoundError} when nothing is at `path`.
 */
export function openView(path: string): ViewReader {
  const { handle } = call<{ handle: number }>("view_open", { path });
  return new ViewReader(INTERNAL, handle, path);
}

/**
 * Reads the whole view at `path` (one run of the program) as text.
 * Needs what {@linkcode openView} needs.
 *
 * @throws {BpfError} when a read fails; the error's `partial`
 * ({@linkcode PartialRead}) holds the bytes read before it, such as the
 * first read session of a cgroup walk that the kernel cannot resume.
 */
export async function readView(path: string): Promise<string> {
  using reader = openView(path);
  return await reader.text();
}
