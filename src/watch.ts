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
import { BpfError } from "./errors.ts";
import { Source } from "./_source.ts";
import { stateDir, type StateOptions } from "./state.ts";

/** The buffer each source's lines are written to, reused for every call. */
const EVENT_BUFFER = 64 * 1024;

const INTERNAL: unique symbol = Symbol("bpfx.internal");

const decoder = new TextDecoder();

/** A source whose batches are JSON lines, one value a line. */
class JsonLines<T> extends Source<T> {
  constructor(handle: number, what: string, owner: object) {
    super(handle, { what, owner, buffer: new Uint8Array(EVENT_BUFFER) });
  }

  protected decode(batch: Uint8Array): T[] {
    const items: T[] = [];
    for (const line of decoder.decode(batch).split("\n")) {
      if (line !== "") items.push(this.#parse(line));
    }
    return items;
  }

  #parse(line: string): T {
    try {
      return JSON.parse(line) as T;
    } catch (cause) {
      throw new BpfError(
        `Cannot read ${this.what}: the core sent a line that is not JSON`,
        { kind: "internal", op: "next", cause },
      );
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
  | "written"
  | "overflow";

/** One filesystem event, as {@linkcode watchFs} reports it. */
export interface FsEvent {
  /**
   * What happened (`written`: a file was closed after a write, with
   * {@linkcode WatchFsOptions.written}); `overflow` means the kernel's queue was full and events
   * were lost: look again at what you watch.
   */
  readonly event: FsEventKind;
  /**
   * The path created, deleted or moved (the directory's path joined with
   * the name), or `null` for `overflow` or a directory that cannot be
   * named any more. A byte of a name that is not UTF-8 is a lone surrogate
   * `\udcXX` (`nameBytes()` gives the bytes).
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
  /**
   * Report too each file in a watched directory closed after it was
   * written (`written`: a file edited in place). Directory marks only: not
   * with `filesystem`.
   */
  written?: boolean;
}

/**
 * The events of the directories (or filesystems) given to
 * {@linkcode watchFs}, as an async iterable. Close it with
 * {@linkcode FsWatcher.close}, `using` or `await using`; ending the
 * iteration closes it too.
 */
export class FsWatcher
  implements AsyncIterable<FsEvent>, Disposable, AsyncDisposable {
  readonly #lane: JsonLines<FsEvent>;
  readonly #paths: readonly string[];

  /** Not for use: open one with {@linkcode watchFs}. */
  constructor(key: typeof INTERNAL, handle: number, paths: readonly string[]) {
    if (key !== INTERNAL) {
      throw new TypeError("Cannot construct an FsWatcher: use watchFs()");
    }
    this.#paths = paths;
    this.#lane = new JsonLines(
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
    written: options.written === true,
  });
  return new FsWatcher(INTERNAL, handle, [...paths]);
}

// ---------------------------------------------------------------------------
// The watcher

/** What the watcher did. */
export type WatchActionKind =
  | "started"
  | "ready"
  | "ready-failed"
  | "reloaded"
  | "rescan"
  | "unexposed"
  | "re-exposed"
  | "left-alone"
  | "forgotten"
  | "exposed-into"
  | "view-made"
  | "view-removed"
  | "link-made"
  | "link-removed"
  | "moved"
  | "skipped"
  | "state-gone"
  | "rearmed"
  | "error";

/** One thing the watcher did, as {@linkcode watch} reports it. */
export interface WatchAction {
  /** When, in milliseconds since the epoch. */
  readonly time: number;
  /**
   * What: `started` (the watcher took the state directory and reconciled
   * it), `ready` (it told systemd so, through `$NOTIFY_SOCKET`;
   * `ready-failed` when that socket could not be reached), `reloaded` (the manifest changed), `rescan` (events were lost: it
   * reconciled everything), `unexposed` (an exposure whose pin went was
   * removed), `re-exposed` (an exposure whose file went was made again),
   * `forgotten` (an exposure inside a container whose process is gone),
   * `exposed-into` (a rule's view put inside a container that came into its
   * cgroup),
   * `left-alone` (the manifest named something bpfx cannot verify as its
   * own: reported, forgotten, and not touched), `view-made`,
   * `view-removed` (a cgroup came or went under an attach rule of views),
   * `link-made`, `link-removed` (the same under a rule of a cgroup
   * program's links), `moved` (a rule's link that held another program,
   * moved onto the rule's program in one step, `BPF_LINK_UPDATE`), `skipped` (a cgroup left without a view or link, and
   * why), `state-gone` (the state
   * directory was removed or moved away), `rearmed` (a new state directory
   * at its path was taken up), or `error` (something could not be done;
   * the watcher goes on).
   */
  readonly action: WatchActionKind;
  /** The exposure's path, or the view's mirror file. */
  readonly path?: string;
  /** The pin involved. */
  readonly pin?: string;
  /**
   * The cgroup, relative to the rule's cgroup root; a byte that is not
   * UTF-8 is a lone surrogate `\udcXX` (`nameBytes()` gives the bytes).
   */
  readonly cgroup?: string;
  /** The id of the cgroup program's link made or removed. */
  readonly linkId?: number;
  /** Why, in words. */
  readonly why: string;
}

/** Options for {@linkcode watch}. */
export interface WatchOptions extends StateOptions {
  /**
   * Make the state directory when it is missing (as `expose()` and
   * `apply()` do) instead of refusing to start.
   */
  create?: boolean;
}

/**
 * The watcher of a state directory, as an async iterable of what it does.
 * It works while it is iterated: each wait handles the events that came and
 * reports the actions taken. Close it with {@linkcode Watcher.close},
 * `using` or (to wait until the state directory is free again)
 * `await using`; ending the iteration closes it too.
 */
export class Watcher
  implements AsyncIterable<WatchAction>, Disposable, AsyncDisposable {
  readonly #lane: JsonLines<WatchAction>;
  readonly #state: string;

  /** Not for use: start one with {@linkcode watch}. */
  constructor(key: typeof INTERNAL, handle: number, state: string) {
    if (key !== INTERNAL) {
      throw new TypeError("Cannot construct a Watcher: use watch()");
    }
    this.#state = state;
    this.#lane = new JsonLines(handle, `the watcher of "${state}"`, this);
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
  const { handle } = call<{ handle: number }>("watch_open", {
    state,
    create: options.create === true,
  });
  return new Watcher(INTERNAL, handle, state);
}
