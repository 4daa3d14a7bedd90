/**
 * Event sources read through the data lane, as async iterables:
 *
 * - {@linkcode watchFs} reports what is created, deleted and moved in
 *   directories (bpffs among them, where inotify-style watches of pins are
 *   otherwise out of reach) or on whole filesystems (cgroupfs), through
 *   fanotify;
 * - {@linkcode watch} runs the watcher of a state directory, which keeps its
 *   manifest true (an exposure goes when its pin goes; a view appears for
 *   each new cgroup under an attach rule and goes with it) and reports each
 *   thing it does.
 *
 * Both wait in the core on Deno's blocking thread pool (one nonblocking
 * call at a time per source, each bounded to a second) and are ended by
 * `close()`, which wakes the waiting call at once. Ending the iteration
 * (`break`, an error) closes the source too, as with `Deno.watchFs`.
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
import { stateDir, type StateOptions } from "./state.ts";

/** The buffer each source's lines are written to, reused for every call. */
const EVENT_BUFFER = 64 * 1024;
/** Room for the JSON error object of a failed wait. */
const ERROR_BUFFER = 4096;
/** How long one call waits in the core before it returns empty-handed. */
const WAIT_MS = 1000;
/** What `bpfx_next` returns once `bpfx_wake` stopped the source. */
const WOKEN = -2n;
/** What `bpfx_next` returns on failure, with the error in the error buffer. */
const FAILED = -1n;

const INTERNAL: unique symbol = Symbol("bpfx.internal");

/** Closes the handles of sources collected without `close()`. */
const leaks = new FinalizationRegistry<number>((handle) => {
  core().bpfx_wake(handle);
  core().bpfx_close(handle);
});

const decoder = new TextDecoder();

/**
 * The machinery both sources share: the handle, the two buffers, the call
 * in flight, and the loop that turns JSON lines into values.
 */
class Lane<T> {
  #handle: number | undefined;
  readonly #what: string;
  /** `buf`: the lines of one call; parsed before the next call reuses it. */
  readonly #buffer = new Uint8Array(EVENT_BUFFER);
  /** `err`: the JSON error of a failed call. */
  readonly #error = new Uint8Array(ERROR_BUFFER);
  /** The call under way, held (with the buffers, by `this`) until it settles. */
  #inFlight: Promise<bigint> | undefined;
  #iterating = false;
  /** The public object the leak registry watches (kept alive while iterated). */
  readonly #owner: object;

  constructor(handle: number, what: string, owner: object) {
    this.#handle = handle;
    this.#what = what;
    this.#owner = owner;
    leaks.register(owner, handle, owner);
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  async *iterate(): AsyncGenerator<T, void, undefined> {
    if (this.#iterating) {
      throw new BpfError(
        `Cannot read ${this.#what}: another iteration is under way`,
        { kind: "busy", op: "next", errno: 16 }, // EBUSY
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
        // Parse the whole batch first: the next call writes the same buffer.
        const text = decoder.decode(this.#buffer.subarray(0, Number(n)));
        const items: T[] = [];
        for (const line of text.split("\n")) {
          if (line !== "") items.push(this.#parse(line));
        }
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

  #parse(line: string): T {
    try {
      return JSON.parse(line) as T;
    } catch (cause) {
      throw new BpfError(
        `Cannot read ${this.#what}: the core sent a line that is not JSON`,
        { kind: "internal", op: "next", cause },
      );
    }
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
      });
    }
  }
}

// ---------------------------------------------------------------------------
// Raw filesystem events

/** What happened to a path. */
export type FsEventKind =
  | "created"
  | "deleted"
  | "moved-from"
  | "moved-to"
  | "overflow";

/** One filesystem event, as {@linkcode watchFs} reports it. */
export interface FsEvent {
  /**
   * What happened; `overflow` means the kernel's queue was full and events
   * were lost: look again at what you watch.
   */
  readonly event: FsEventKind;
  /**
   * The path created, deleted or moved (the directory's path joined with
   * the name), or `null` for `overflow` or a directory that cannot be
   * named any more.
   */
  readonly path: string | null;
  /** Whether the path is a directory. */
  readonly dir: boolean;
}

/** Options for {@linkcode watchFs}. */
export interface WatchFsOptions {
  /**
   * Watch the whole filesystem each path is on (a fanotify filesystem
   * mark) instead of each directory itself. cgroupfs takes it; bpffs
   * refuses it (error kind `not-supported` or `os`, EOPNOTSUPP).
   */
  filesystem?: boolean;
}

/**
 * The events of the directories (or filesystems) given to
 * {@linkcode watchFs}, as an async iterable. Close it with
 * {@linkcode FsWatcher.close}, `using` or `await using`; ending the
 * iteration closes it too.
 */
export class FsWatcher
  implements AsyncIterable<FsEvent>, Disposable, AsyncDisposable {
  readonly #lane: Lane<FsEvent>;
  readonly #paths: readonly string[];

  /** Not for use: open one with {@linkcode watchFs}. */
  constructor(key: typeof INTERNAL, handle: number, paths: readonly string[]) {
    if (key !== INTERNAL) {
      throw new TypeError("Cannot construct an FsWatcher: use watchFs()");
    }
    this.#paths = paths;
    this.#lane = new Lane(
      handle,
      `events of ${paths.map((p) => `"${p}"`).join(", ")}`,
      this,
    );
  }

  /** The paths watched. */
  get paths(): readonly string[] {
    return this.#paths;
  }

  /** Whether the watcher was closed. */
  get closed(): boolean {
    return this.#lane.closed;
  }

  /**
   * The events, as they come. One iteration at a time (another is refused
   * with kind `busy`); it ends when the watcher is closed.
   *
   * @throws {BpfError} when reading the events fails.
   */
  [Symbol.asyncIterator](): AsyncIterator<FsEvent> {
    return this.#lane.iterate();
  }

  /**
   * Stops the watcher: a wait under way returns at once and the iteration
   * ends. Calling it again does nothing.
   */
  close(): void {
    this.#lane.close();
  }

  /** Closes the watcher, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Closes the watcher and waits until the core has let go of it. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#lane.settled();
  }

  /** How `console.log` shows the watcher. */
  [Symbol.for("Deno.customInspect")](): string {
    return `FsWatcher { paths: ${JSON.stringify(this.#paths)}${
      this.closed ? ", closed" : ""
    } }`;
  }
}

/**
 * Watches `paths` for entries created, deleted and moved, with fanotify:
 * each directory itself (an inode mark, which bpffs takes), or with
 * `options.filesystem` the whole filesystem each path is on (cgroupfs takes
 * it; bpffs does not). Events come with the path and whether it is a
 * directory.
 *
 * Needs `--allow-ffi`, and root (CAP_SYS_ADMIN) on a kernel with fanotify
 * FID reporting (5.9).
 *
 * @example New cgroups, as they come
 * ```ts ignore
 * import { watchFs } from "./mod.ts";
 * using events = watchFs(["/sys/fs/cgroup"], { filesystem: true });
 * for await (const e of events) {
 *   if (e.event === "created" && e.dir) console.log("new cgroup", e.path);
 * }
 * ```
 *
 * @throws {BpfNotFoundError} when a path does not exist.
 * @throws {BpfError} when fanotify refuses the mark (for example a
 * filesystem mark on bpffs).
 */
export function watchFs(
  paths: string[],
  options: WatchFsOptions = {},
): FsWatcher {
  const { handle } = call<{ handle: number }>("events_open", {
    paths,
    filesystem: options.filesystem === true,
  });
  return new FsWatcher(INTERNAL, handle, [...paths]);
}

// ---------------------------------------------------------------------------
// The watcher

/** What the watcher did. */
export type WatchActionKind =
  | "started"
  | "reloaded"
  | "rescan"
  | "unexposed"
  | "re-exposed"
  | "view-made"
  | "view-removed"
  | "skipped"
  | "error";

/** One thing the watcher did, as {@linkcode watch} reports it. */
export interface WatchAction {
  /** When, in milliseconds since the epoch. */
  readonly time: number;
  /**
   * What: `started` (the watcher took the state directory and reconciled
   * it), `reloaded` (the manifest changed), `rescan` (events were lost: it
   * reconciled everything), `unexposed` (an exposure whose pin went was
   * removed), `re-exposed` (an exposure whose file went was made again),
   * `view-made`, `view-removed` (a cgroup came or went under an attach
   * rule), `skipped` (a cgroup left without a view), or `error` (something
   * could not be done; the watcher goes on).
   */
  readonly action: WatchActionKind;
  /** The exposure's path, or the view's mirror file. */
  readonly path?: string;
  /** The pin involved. */
  readonly pin?: string;
  /** The cgroup, relative to the rule's cgroup root. */
  readonly cgroup?: string;
  /** Why, in words. */
  readonly why: string;
}

/** Options for {@linkcode watch}. */
export type WatchOptions = StateOptions;

/**
 * The watcher of a state directory, as an async iterable of what it does.
 * It works while it is iterated: each wait handles the events that came and
 * reports the actions taken. Close it with {@linkcode Watcher.close},
 * `using` or (to wait until the state directory is free again)
 * `await using`; ending the iteration closes it too.
 */
export class Watcher
  implements AsyncIterable<WatchAction>, Disposable, AsyncDisposable {
  readonly #lane: Lane<WatchAction>;
  readonly #state: string;

  /** Not for use: start one with {@linkcode watch}. */
  constructor(key: typeof INTERNAL, handle: number, state: string) {
    if (key !== INTERNAL) {
      throw new TypeError("Cannot construct a Watcher: use watch()");
    }
    this.#state = state;
    this.#lane = new Lane(handle, `the watcher of "${state}"`, this);
  }

  /** The state directory it watches. */
  get state(): string {
    return this.#state;
  }

  /** Whether the watcher was closed. */
  get closed(): boolean {
    return this.#lane.closed;
  }

  /**
   * The actions, as they are taken, starting with `started` and those of
   * the first reconcile. One iteration at a time (another is refused with
   * kind `busy`); it ends when the watcher is closed.
   *
   * @throws {BpfError} when waiting for events fails.
   */
  [Symbol.asyncIterator](): AsyncIterator<WatchAction> {
    return this.#lane.iterate();
  }

  /**
   * Stops the watcher: a wait under way returns at once, the iteration ends,
   * and the state directory is free for another watcher as soon as that
   * wait has returned. Calling it again does nothing.
   */
  close(): void {
    this.#lane.close();
  }

  /** Closes the watcher, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Closes the watcher and waits until the core has let go of it, so that
   * the state directory is free for another watcher.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#lane.settled();
  }

  /** How `console.log` shows the watcher. */
  [Symbol.for("Deno.customInspect")](): string {
    return `Watcher { state: ${JSON.stringify(this.#state)}${
      this.closed ? ", closed" : ""
    } }`;
  }
}

/**
 * Starts the watcher of the state directory (`options.state`, else
 * `BPFX_STATE`, else `/run/bpfx`): it takes the directory's watcher lock,
 * reads the manifest and reconciles everything once (exposures whose pin
 * is gone are removed, those whose file is gone are made again, every
 * attach rule's views are brought in line with its cgroups). Then, while it
 * is iterated, it keeps the manifest true as pins and cgroups come and go,
 * picks up the changes `expose`, `unexpose`, `attach` and `detach` make to
 * the manifest, and reconciles everything again when the kernel's event
 * queue overflows.
 *
 * One watcher per state directory: a second one, in this process or
 * another, is refused (error kind `busy`) until the first is closed.
 *
 * Needs `--allow-ffi`, `--allow-env=BPFX_STATE` to honour that variable,
 * and root (CAP_SYS_ADMIN for fanotify, CAP_BPF for the views) on a kernel
 * with fanotify FID reporting (5.9) and, for attach rules, cgroup iterators
 * (6.1).
 *
 * @example The watcher as a service
 * ```ts ignore
 * import { watch } from "./mod.ts";
 * using watcher = watch({ state: "/run/bpfx" });
 * Deno.addSignalListener("SIGTERM", () => watcher.close());
 * for await (const a of watcher) console.log(a.action, a.path ?? "", a.why);
 * ```
 *
 * @throws {BpfError} of kind `busy` when another watcher holds the state
 * directory, `invalid` when the manifest is corrupt.
 */
export function watch(options: WatchOptions = {}): Watcher {
  const state = stateDir(options);
  const { handle } = call<{ handle: number }>("watch_open", { state });
  return new Watcher(INTERNAL, handle, state);
}
