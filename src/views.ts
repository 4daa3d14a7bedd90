/**
 * Views: BPF iterator links pinned in bpffs, whose reads run the program.
 *
 * - {@linkcode createView} makes one view with the parameters its target
 *   takes (a process, a cgroup and an order, a map) and pins it;
 * - {@linkcode openView} opens a view (or any file the core can read) for
 *   reading through the data lane: a {@linkcode ViewReader} gives bytes,
 *   a byte stream, lines or the whole text; {@linkcode readView} reads it
 *   all at once;
 * - {@linkcode attach} keeps one cgroup view per cgroup of a subtree, pinned
 *   under a pin root and exposed as symlinks in a mirror of the cgroup tree;
 *   {@linkcode detach} removes them.
 *
 * Reads, attach and detach run on Deno's blocking thread pool (nonblocking
 * FFI calls) and return promises; the rest is synchronous.
 *
 * @module
 */

import { call, callNonblocking } from "./_call.ts";
import {
  type AnyBpfError,
  BpfError,
  type CoreErrorObject,
  fromCoreObject,
} from "./errors.ts";
import { core } from "./ffi.ts";
import { OwnedHandle } from "./_owned.ts";
import type { CgroupAttachType } from "./cgroup_links.ts";
import type { LinkInfo } from "./pins.ts";

// ---------------------------------------------------------------------------
// Making views

/** The order in which a cgroup view walks from its cgroup. */
export type CgroupOrder =
  | "self"
  | "descendants-pre"
  | "descendants-post"
  | "ancestors-up";

/** The iterator targets that take a process or a thread. */
export type TaskTarget = "task" | "task_file" | "task_vma";

/** The iterator targets that take a map. */
export type MapTarget = "bpf_map_elem" | "bpf_sk_storage_map" | "sockmap";

/**
 * A task view (targets `task`, `task_file`, `task_vma`): every task, or with
 * `pid` only the threads of that process.
 */
export interface TaskViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target?: TaskTarget;
  /** Only the threads of this process (a positive pid). */
  pid?: number;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/** A task view limited to one thread. */
export interface ThreadViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target?: TaskTarget;
  /** Only this thread (a positive tid). */
  tid: number;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/** A cgroup view: one cgroup, or a walk from it in `order`. */
export interface CgroupViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target: "cgroup";
  /**
   * The cgroup: a path (absolute, or relative to the cgroup2 mount) or its
   * id (the inode number of its directory; a string of digits is an id too).
   */
  cgroup: string | number;
  /** The walk order; `self` (only that cgroup) when left out. */
  order?: CgroupOrder;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/** A view of a map's elements (targets `bpf_map_elem`, ...). */
export interface MapViewParams {
  /** The program's target; for typing only (see {@linkcode ViewParams}). */
  target: MapTarget;
  /** The pin of the map to walk. */
  map: string;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
}

/** A view whose target takes no parameters (`bpf_map`, `bpf_prog`, `tcp`, ...). */
export interface PlainViewParams {
  /** No target, no parameters. */
  target?: undefined;
  /** Not a parameter of this target. */
  pid?: never;
  /** Not a parameter of this target. */
  tid?: never;
  /** Not a parameter of this target. */
  cgroup?: never;
  /** Not a parameter of this target. */
  order?: never;
  /** Not a parameter of this target. */
  map?: never;
}

/**
 * The parameters of a view, typed by the program's iterator target.
 *
 * `target` only selects the shape of the parameters for the type checker:
 * it is not sent to the core. The core reads the program's real target
 * from the kernel and refuses a parameter that target does not take (or a
 * missing one it needs), so a `target` that does not match the program
 * cannot make a wrong view.
 */
export type ViewParams =
  | TaskViewParams
  | ThreadViewParams
  | CgroupViewParams
  | MapViewParams
  | PlainViewParams;

/** Where to pin a view, and how to load its program. */
export interface ViewPin {
  /** The pin to make, on bpffs; its name may not contain `.`. */
  pin: string;
  /**
   * Where maps pinned by name go when `prog` is `OBJ:NAME`; the core's
   * default is `/sys/fs/bpf`.
   */
  pinByNameRoot?: string;
}

/** Options for {@linkcode createView}: the pin and the view's parameters. */
export type ViewOptions = ViewPin & ViewParams;

const MAX_U32 = 0xffff_ffff;

function invalid(pin: string, what: string): BpfError {
  return new BpfError(`Cannot make the view at "${pin}": ${what}`, {
    kind: "invalid",
    op: "params",
    errno: 22, // EINVAL
    path: pin,
  });
}

/** The `params` object of op `view_create`; every given key is sent. */
function coreParams(options: ViewOptions): Record<string, unknown> {
  // Read loosely: a caller without types may give any mix, and the core
  // names the parameter its target does not take.
  const given = options as {
    pid?: unknown;
    tid?: unknown;
    cgroup?: unknown;
    order?: unknown;
    map?: unknown;
  };
  const params: Record<string, unknown> = {};
  for (const key of ["pid", "tid"] as const) {
    const value = given[key];
    if (value === undefined) continue;
    if (
      typeof value !== "number" || !Number.isInteger(value) || value < 1 ||
      value > MAX_U32
    ) {
      throw invalid(
        options.pin,
        `${key} must be a positive 32-bit integer, got ${String(value)}`,
      );
    }
    params[key] = value;
  }
  const cgroup = given.cgroup;
  if (cgroup !== undefined) {
    if (typeof cgroup === "number") {
      if (!Number.isSafeInteger(cgroup) || cgroup < 0) {
        throw invalid(
          options.pin,
          `a cgroup id must be a non-negative integer, got ${cgroup}`,
        );
      }
      params.cgroup = String(cgroup);
    } else if (typeof cgroup === "string" && cgroup !== "") {
      params.cgroup = cgroup;
    } else {
      throw invalid(
        options.pin,
        `cgroup must be a path or an id, got ${JSON.stringify(cgroup)}`,
      );
    }
  }
  if (given.order !== undefined) params.order = given.order;
  if (given.map !== undefined) params.map = given.map;
  return params;
}

/**
 * Makes a view of the iterator program `prog` and pins it at
 * `options.pin`: a BPF iterator link with the parameters of `options`,
 * which the core checks against the program's real target. Reading the pin
 * (with {@linkcode openView}, {@linkcode readView} or `cat`) runs the
 * program. Nothing is pinned unless every check passes.
 *
 * `prog` is a pinned program, or `OBJ:NAME`: the iterator program `NAME` of
 * the ELF object `OBJ`, loaded for this view (the view keeps it loaded).
 *
 * Needs `--allow-ffi`, and root (or CAP_BPF with CAP_PERFMON, as iterator
 * programs are tracing programs), on a kernel with BPF iterators and BTF:
 * 5.8 for task views, 5.9 for map element views, 6.1 for cgroup views and
 * for task views limited by `pid` or `tid`.
 *
 * @example A view of one process's threads
 * ```ts ignore
 * import { createView, readView } from "./mod.ts";
 * createView("build/examples/tasks.bpf.o:tasks", {
 *   pin: "/sys/fs/bpf/mytasks",
 *   pid: Deno.pid,
 * });
 * console.log(await readView("/sys/fs/bpf/mytasks"));
 * ```
 *
 * @throws {BpfError} of kind `invalid` for a parameter the target does not
 * take, `wrong-kind` for a program that is not an iterator, `not-bpffs` for a
 * pin off bpffs, `permission` when the kernel refuses the program's type
 * before verification (a security policy; see `load()`).
 * @throws {BpfNotFoundError} for a program, cgroup, process or map that does
 * not exist.
 * @throws {BpfAlreadyExistsError} when the pin exists.
 */
export function createView(prog: string, options: ViewOptions): LinkInfo {
  const request: Record<string, unknown> = {
    prog,
    pin: options.pin,
    params: coreParams(options),
  };
  if (options.pinByNameRoot !== undefined) {
    request.pinByNameRoot = options.pinByNameRoot;
  }
  return call<LinkInfo>("view_create", request);
}

// ---------------------------------------------------------------------------
// Reading views

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

// ---------------------------------------------------------------------------
// A view per cgroup

/** One cgroup's view, as {@linkcode attach} and {@linkcode detach} report it. */
export interface AttachItem {
  /** The cgroup's path relative to the cgroup root (`""` for the root). */
  readonly cgroup: string;
  /** The cgroup's id: the inode number of its directory. */
  readonly cgroupId: number;
  /** The view's or link's pin, under the pin root. */
  readonly pin: string;
  /** The symlink to the pin, under the expose root (`""` without one). */
  readonly expose: string;
  /** A cgroup program's link: its id. */
  readonly linkId?: number;
}

/** A cgroup {@linkcode attach} left alone, and why. */
export interface AttachSkipped {
  /** The cgroup's path relative to the cgroup root. */
  readonly cgroup: string;
  /** Why it was skipped. */
  readonly why: string;
}

/** What {@linkcode attach} did. */
export interface AttachReport {
  /** How many cgroups the subtree has (its root included). */
  readonly cgroups: number;
  /** The views made. */
  readonly made: readonly AttachItem[];
  /** The views that were already there and right. */
  readonly kept: readonly AttachItem[];
  /** The views removed: of cgroups that are gone, or made again. */
  readonly removed: readonly AttachItem[];
  /** The cgroups left without a view. */
  readonly skipped: readonly AttachSkipped[];
  /**
   * With `intoContainers`: the views exposed inside the containers their
   * cgroups hold (left out when none).
   */
  readonly into?: readonly AttachPlaced[];
}

/** A view {@linkcode attach} exposed inside a container. */
export interface AttachPlaced {
  /** The cgroup, relative to the subtree's root. */
  readonly cgroup: string;
  /** The container's process entered (its PID on the host). */
  readonly pid: number;
  /** The view's pin. */
  readonly pin: string;
  /** Where it is inside the container. */
  readonly path: string;
}

/** What {@linkcode detach} removed. */
export interface DetachReport {
  /** The views removed, with their symlinks. */
  readonly removed: readonly AttachItem[];
}

/**
 * Called about every 100 ms while {@linkcode attach} or {@linkcode detach}
 * runs, when the progress changed, and once at the end with `done` equal to
 * `total`. An exception it throws is rethrown once the operation ends.
 */
export type ProgressCallback = (done: number, total: number) => void;

/** Options for {@linkcode attach}. */
export interface AttachOptions {
  /**
   * The root of the subtree: a cgroup path, absolute or relative to the
   * cgroup2 mount (not an id).
   */
  cgroupRoot: string;
  /** Where the views or links are pinned, on bpffs; made if missing. */
  pinRoot: string;
  /**
   * Where the mirror of the cgroup tree goes; any filesystem but bpffs and
   * cgroupfs. Needed for views; optional for a cgroup program's links.
   */
  exposeRoot?: string;
  /** The file name of each view or link, in both trees; no `/` or `.`. */
  name: string;
  /**
   * A cgroup program's attach type, when its section does not name one or
   * names another (a pinned program does not say it); checked against the
   * program's type.
   */
  attachType?: CgroupAttachType;
  /**
   * Only the cgroups exactly this many levels below the root (0: the root,
   * 1: each child). Refused when the tree is not that deep.
   */
  depth?: number;
  /** Only the cgroups whose name matches this glob (`*`, `?`). */
  match?: string;
  /** Where maps pinned by name go when `prog` is `OBJ:NAME`. */
  pinByNameRoot?: string;
  /**
   * A state directory to record the attach in, as a rule that the watcher
   * (`watch()`) keeps true as cgroups come and go; a program given as
   * `OBJ:NAME` is then pinned at `<pinRoot>/%prog-<name>` for it. Nothing
   * is recorded when left out (`BPFX_STATE` is not read here).
   */
  state?: string;
  /**
   * Also expose each cgroup's view at this path inside the container the
   * cgroup holds (its processes are in a mount namespace other than the
   * host's), as `expose()` with `into` does; needs `state`. The watcher
   * follows the containers: one started later gets its view once its first
   * process joins the cgroup, its exposure is forgotten when it exits, and
   * `detach()` removes them all.
   */
  intoContainers?: string;
  /** Progress, as views are made. */
  onProgress?: ProgressCallback;
}

/** Options for {@linkcode detach}. */
export interface DetachOptions {
  /** The pin root given to {@linkcode attach}. */
  pinRoot: string;
  /** The expose root given to {@linkcode attach}, if one was. */
  exposeRoot?: string;
  /** Remove only the views or links of this name; all when left out. */
  name?: string;
  /**
   * A state directory whose matching attach rules (same pin root, and
   * `name` if given) are forgotten, with the program pinned for them.
   * Nothing is forgotten when left out (`BPFX_STATE` is not read here).
   */
  state?: string;
  /** Progress, as views are removed. */
  onProgress?: ProgressCallback;
}

const POLL_MS = 100;

/** The bulk operation under way: they run one at a time in this process. */
let bulk: Promise<unknown> = Promise.resolve();

/**
 * Runs the bulk operation `op` on Deno's blocking thread pool, after the
 * ones already started, polling `bpfx_progress` for `onProgress`.
 */
function runBulk<T>(
  op: string,
  params: Record<string, unknown>,
  onProgress: ProgressCallback | undefined,
  total: (reply: T) => number,
): Promise<T> {
  const run = () => withProgress(op, params, onProgress, total);
  const result = bulk.then(run, run);
  bulk = result.catch(() => {});
  return result;
}

async function withProgress<T>(
  op: string,
  params: Record<string, unknown>,
  onProgress: ProgressCallback | undefined,
  total: (reply: T) => number,
): Promise<T> {
  if (onProgress === undefined) return await callNonblocking<T>(op, params);
  const lib = core();
  const progress = new BigUint64Array(2);
  // The core keeps the last operation's progress until the new one writes
  // its own: ignore that value until it changes.
  lib.bpfx_progress(progress);
  const stale = `${progress[0]}/${progress[1]}`;
  let fresh = false;
  let last = "";
  let thrown: { error: unknown } | undefined;
  const report = (done: number, all: number) => {
    const key = `${done}/${all}`;
    if (thrown !== undefined || key === last) return;
    last = key;
    try {
      onProgress(done, all);
    } catch (error) {
      thrown = { error };
    }
  };
  const poll = () => {
    lib.bpfx_progress(progress);
    const key = `${progress[0]}/${progress[1]}`;
    if (!fresh && key === stale) return;
    fresh = true;
    const all = Number(progress[1] ?? 0n);
    if (all > 0) report(Math.min(Number(progress[0] ?? 0n), all), all);
  };
  const timer = setInterval(poll, POLL_MS);
  let reply: T;
  try {
    reply = await callNonblocking<T>(op, params);
  } finally {
    clearInterval(timer);
  }
  const all = total(reply);
  report(all, all);
  if (thrown !== undefined) throw thrown.error;
  return reply;
}

/**
 * Gives every selected cgroup of the subtree at `options.cgroupRoot` a view
 * of a cgroup iterator, or a link of a cgroup program.
 *
 * A cgroup program (cgroup_skb, cgroup_sock, cgroup_sock_addr, sock_ops,
 * cgroup_device, cgroup_sysctl, cgroup_sockopt; see
 * {@linkcode CgroupAttachType}) gets one BPF link per selected cgroup
 * (`BPF_LINK_CREATE` on the cgroup, opened by handle), pinned at
 * `<pinRoot>/<cgroup path>/<name>`, and symlinked under `exposeRoot` when
 * one is given. Its attach type is the one its section names, or
 * `options.attachType`. A program on a cgroup also runs for the cgroups
 * below, so with neither `depth` nor `match` only the root gets a link;
 * `depth: 1` gives each child its own. A second attach keeps the links
 * that are right (same cgroup, same program) and replaces the others; a
 * failure on one cgroup is reported in `skipped` and the rest is done.
 *
 * A cgroup iterator program (a pinned program or `OBJ:NAME`) gets a view
 * per selected cgroup (every cgroup by default), with
 * order `self`: pinned at `<pinRoot>/<cgroup path>/<name>` (each `.` in a
 * directory name written `%2E`, each `%` as `%25`, as bpffs refuses dots)
 * and exposed as a symlink `<exposeRoot>/<cgroup path>/<name>`, so reading
 * the mirror file runs the view for that cgroup. Views of cgroups that are
 * gone, or were made again, are removed. Running it again changes nothing.
 *
 * Runs on Deno's blocking thread pool; attach and detach calls of one
 * process run one after the other.
 *
 * With `options.state`, the attach is also recorded in that state
 * directory's manifest as a rule, which a running watcher picks up and
 * keeps true: a view for each cgroup that appears, none for those removed.
 *
 * Needs `--allow-ffi`, and root (or CAP_BPF with CAP_PERFMON, and write
 * access to both roots and the state directory), on a kernel with cgroup
 * iterators (6.1).
 *
 * @example A view per cgroup of a service's subtree
 * ```ts ignore
 * import { attach } from "./mod.ts";
 * const report = await attach("build/examples/cgstat.bpf.o:cgstat", {
 *   cgroupRoot: "system.slice",
 *   pinRoot: "/sys/fs/bpf/cgstat",
 *   exposeRoot: "/run/bpfx/cgroups",
 *   name: "stat",
 *   onProgress: (done, total) => console.log(`${done}/${total}`),
 * });
 * console.log(`${report.made.length} made, ${report.kept.length} kept`);
 * ```
 *
 * @throws {BpfError} of kind `wrong-kind` when `prog` neither iterates
 * cgroups nor attaches to them, or does not take `attachType`; `invalid`
 * when the name has a `/` or `.`, the cgroup root is not a cgroup2
 * directory, `depth` is beyond the tree, a view has no expose root, or the
 * expose root is on bpffs or cgroupfs; `not-bpffs` when the pin root is not
 * on bpffs. Nothing is made when it throws.
 */
export function attach(
  prog: string,
  options: AttachOptions,
): Promise<AttachReport> {
  const { onProgress: _, ...given } = options;
  const params: Record<string, unknown> = { prog };
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) params[key] = value;
  }
  return runBulk<AttachReport>(
    "attach",
    params,
    options.onProgress,
    (r) => r.cgroups,
  );
}

/**
 * Removes the cgroup views under `options.pinRoot` (those named
 * `options.name`, or all), the symlinks under `options.exposeRoot` that
 * point at them, and the directories left empty below both roots. Touches
 * nothing else: a pin root that does not exist gives an empty report.
 * With `options.state`, the matching attach rules of that state directory
 * are forgotten first, so a running watcher stops keeping them.
 *
 * Needs `--allow-ffi`, and root (write access to both roots and the state
 * directory).
 *
 * @throws {BpfError} of kind `not-bpffs` when the pin root is not on bpffs.
 */
export function detach(options: DetachOptions): Promise<DetachReport> {
  const params: Record<string, unknown> = { pinRoot: options.pinRoot };
  if (options.exposeRoot !== undefined) params.exposeRoot = options.exposeRoot;
  if (options.name !== undefined) params.name = options.name;
  if (options.state !== undefined) params.state = options.state;
  return runBulk<DetachReport>(
    "detach",
    params,
    options.onProgress,
    (r) => r.removed.length,
  );
}
