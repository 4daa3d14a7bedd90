/**
 * `bpfx watch --config FILE`: the watcher of a state directory that also
 * keeps one desired-state file applied. It applies the file at start, and
 * again whenever the file's directory says it may have changed: a
 * Kubernetes ConfigMap update (a new `..data` symlink renamed over the old
 * one), a file replaced by rename, or one edited in place (closed after a
 * write). {@linkcode ConfigWatcher.reload} (SIGHUP, in the command) applies
 * it again at once.
 *
 * One engine: the rules the file makes are recorded in the manifest by
 * `apply()`, and the same watcher (`watch()` of `../watch.ts`) that keeps
 * every rule true keeps them true; this module only adds the file. A new
 * version that does not parse or does not validate is refused (a
 * `config-refused` event with the file, line, column and entry) and the
 * last good state stays in force.
 *
 * It reads the file with `file.ts`, and so loads the YAML and JSON Schema
 * packages: import it as the package's `./desired/watch` export (or
 * `src/desired/watch.ts`); `mod.ts` exports only its types.
 *
 * @module
 */

import { watch, type WatchAction, watchFs } from "../watch.ts";
import type { FsEvent, FsWatcher, Watcher } from "../watch.ts";
import { stateDir, type StateOptions } from "../state.ts";
import { readHashed } from "./_bytes.ts";
import { DesiredError } from "./check.ts";
import { apply } from "./apply.ts";
import { parseDesired } from "./file.ts";
import type { DesiredAction } from "./types.ts";

/** What happened to the file. */
export type ConfigEventKind =
  | "config-applied"
  | "config-refused"
  | "config-failed";

/** Why the file was read: at start, on a change, or when asked (SIGHUP). */
export type ConfigTrigger = "start" | "change" | "reload";

/** One thing that happened to the desired-state file of a watcher. */
export interface ConfigEvent {
  /** When, in milliseconds since the epoch. */
  readonly time: number;
  /**
   * `config-applied` (the version read is in force: the host matches it),
   * `config-refused` (it does not read, parse or validate: nothing was
   * changed, and the last good version stays in force), or `config-failed`
   * (it is valid, but applying it failed part way: what was made is
   * recorded as the file's, and the next change or reload tries again).
   */
  readonly action: ConfigEventKind;
  /** The file, as given. */
  readonly file: string;
  /** Why it was read. */
  readonly trigger: ConfigTrigger;
  /** The sha256 of the version read, when it could be read. */
  readonly sha256?: string;
  /** The line of the refused node (from 1), when known. */
  readonly line?: number;
  /** Its column (from 1). */
  readonly column?: number;
  /** The entry refused: `views[2] "tasks"`, or `the file`. */
  readonly entry?: string;
  /** What applying it changed (the actions other than `keep`). */
  readonly changed?: readonly DesiredAction[];
  /** Why, in words. */
  readonly why: string;
}

/** What a {@linkcode ConfigWatcher} reports: the watcher's actions and the file's events. */
export type ConfigWatchEvent = WatchAction | ConfigEvent;

/** Options for {@linkcode watchConfig}. */
export interface WatchConfigOptions extends StateOptions {
  /**
   * How long to wait, in milliseconds, after the last event in the file's
   * directory before reading it (so that a burst of events, such as a
   * ConfigMap update's five, reads it once). 20 by default.
   */
  settleMs?: number;
}

const INTERNAL: unique symbol = Symbol("bpfx.internal");
const WOKEN: unique symbol = Symbol("woken");

/** The directory of `path` (`.` for a bare name). */
function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/**
 * The watcher of a state directory with a desired-state file, as an async
 * iterable of what it does: the watcher's own actions
 * ({@linkcode WatchAction}) and the file's ({@linkcode ConfigEvent}). It
 * works while it is iterated. Close it with {@linkcode ConfigWatcher.close},
 * `using` or `await using`; ending the iteration closes it too.
 */
export class ConfigWatcher
  implements AsyncIterable<ConfigWatchEvent>, Disposable, AsyncDisposable {
  readonly #file: string;
  readonly #state: string;
  readonly #settleMs: number;
  readonly #watcher: Watcher;
  readonly #dir: FsWatcher;
  #ready = false;
  #closed = false;
  #iterating = false;
  /** The read asked for, if any (the first one wins until it is taken). */
  #wanted: ConfigTrigger | undefined = "start";
  /** The last version read (its sha256, or its read error): a change is another. */
  #seen: string | undefined;
  /** The last version applied. */
  #good: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  #woken: Promise<typeof WOKEN> | undefined;
  #dirDone: Promise<void> | undefined;

  /** Not for use: start one with {@linkcode watchConfig}. */
  constructor(
    key: typeof INTERNAL,
    file: string,
    options: WatchConfigOptions,
  ) {
    if (key !== INTERNAL) {
      throw new TypeError(
        "Cannot construct a ConfigWatcher: use watchConfig()",
      );
    }
    this.#file = file;
    this.#state = stateDir(options);
    this.#settleMs = options.settleMs ?? 20;
    this.#dir = watchFs([dirOf(file)], { written: true });
    try {
      this.#watcher = watch({ state: this.#state, create: true });
    } catch (error) {
      this.#dir.close();
      throw error;
    }
  }

  /** The desired-state file. */
  get file(): string {
    return this.#file;
  }

  /** The state directory. */
  get state(): string {
    return this.#state;
  }

  /**
   * Whether a version of the file is in force: true from the first
   * successful apply on (a refused version later leaves the last good one
   * in force, so it stays true).
   */
  get ready(): boolean {
    return this.#ready;
  }

  /** The sha256 of the version in force, if one is. */
  get applied(): string | undefined {
    return this.#good;
  }

  /** Whether the watcher was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads and applies the file again as soon as the iteration can (at
   * once when it is waiting), even if it did not change: what SIGHUP does.
   */
  reload(): void {
    if (this.#closed) return;
    this.#wanted = "reload";
    this.#poke();
  }

  /**
   * The events, as they come: `config-applied` (or `config-refused`) for
   * the file at start, the watcher's `started` and its reconcile, then
   * both as the file and the host change. One iteration at a time; it ends
   * when the watcher is closed.
   *
   * @throws {BpfError} when waiting for events fails.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<ConfigWatchEvent> {
    if (this.#iterating) {
      throw new TypeError(
        `Cannot watch "${this.#file}": another iteration is under way`,
      );
    }
    this.#iterating = true;
    this.#dirDone ??= this.#follow();
    const actions = this.#watcher[Symbol.asyncIterator]();
    let next: Promise<IteratorResult<WatchAction>> | undefined;
    try {
      for (;;) {
        if (this.#closed) return;
        const trigger = this.#wanted;
        if (trigger !== undefined) {
          this.#wanted = undefined;
          const event = await this.#read(trigger);
          if (event !== undefined) yield event;
          continue;
        }
        next ??= actions.next();
        const got = await Promise.race([next, this.#sleep()]);
        if (got === WOKEN) continue;
        next = undefined;
        if (got.done) return;
        yield got.value;
      }
    } finally {
      this.#iterating = false;
      this.close();
      await actions.return?.();
    }
  }

  /**
   * Stops the watcher: a wait under way returns at once and the iteration
   * ends. Calling it again does nothing.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#dir.close();
    this.#watcher.close();
    this.#poke();
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
    await this.#watcher[Symbol.asyncDispose]();
    await this.#dir[Symbol.asyncDispose]();
    await this.#dirDone;
  }

  /** How `console.log` shows the watcher. */
  [Symbol.for("Deno.customInspect")](): string {
    return `ConfigWatcher { file: ${JSON.stringify(this.#file)}, state: ${
      JSON.stringify(this.#state)
    }${this.#ready ? ", ready" : ""}${this.#closed ? ", closed" : ""} }`;
  }

  /** Resolves when something asks for the iteration's attention. */
  #sleep(): Promise<typeof WOKEN> {
    this.#woken ??= new Promise((resolve) => {
      this.#wake = () => resolve(WOKEN);
    });
    return this.#woken;
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    this.#woken = undefined;
    wake?.();
  }

  /** Reads the directory's events; each burst asks for one read once it settles. */
  async #follow(): Promise<void> {
    const name = this.#file.slice(this.#file.lastIndexOf("/") + 1);
    const mine = (e: FsEvent) => {
      if (e.event === "overflow" || e.path === null) return true;
      const base = e.path.slice(e.path.lastIndexOf("/") + 1);
      // The file itself, or a ConfigMap's `..data` swap (or any `..`
      // entry: the file may be a symlink through one).
      return base === name || base.startsWith("..");
    };
    try {
      for await (const e of this.#dir) {
        if (!mine(e)) continue;
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#wanted ??= "change";
          this.#poke();
        }, this.#settleMs);
      }
    } catch {
      // Closed under us, or the directory is gone: reload() still works.
    }
  }

  /**
   * Reads the file and applies it, unless it is the version last read and
   * the read was not asked for (`change` only). Returns the event, if any.
   */
  async #read(trigger: ConfigTrigger): Promise<ConfigEvent | undefined> {
    const base = { time: 0, file: this.#file, trigger };
    let text: string;
    let sha256: string;
    try {
      ({ text, sha256 } = readHashed(this.#file));
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      if (trigger === "change" && this.#seen === `error:${why}`) return;
      this.#seen = `error:${why}`;
      return this.#refused(base, `cannot read the file: ${why}`);
    }
    if (trigger === "change" && this.#seen === sha256) return;
    this.#seen = sha256;
    const at = { ...base, sha256 };
    let desired;
    try {
      desired = parseDesired(text, this.#file);
    } catch (error) {
      if (!(error instanceof DesiredError)) {
        const why = error instanceof Error ? error.message : String(error);
        return this.#refused(at, why);
      }
      return this.#refused(
        {
          ...at,
          ...(error.line === undefined ? {} : { line: error.line }),
          ...(error.column === undefined ? {} : { column: error.column }),
          entry: error.entry,
        },
        error.reason,
      );
    }
    try {
      const done = await apply(desired.desired, {
        state: this.#state,
        checked: desired.checked,
      });
      const changed = done.actions.filter((a) => a.action !== "keep");
      this.#good = sha256;
      this.#ready = true;
      return {
        ...at,
        time: Date.now(),
        action: "config-applied",
        changed,
        why: changed.length === 0
          ? `version ${sha256.slice(0, 12)} is in force: nothing to change`
          : `version ${
            sha256.slice(0, 12)
          } is in force: ${changed.length} changed`,
      };
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return {
        ...at,
        time: Date.now(),
        action: "config-failed",
        why: `applying version ${
          sha256.slice(0, 12)
        } failed: ${why}; the next change or reload tries again`,
      };
    }
  }

  #refused(
    event: Omit<ConfigEvent, "action" | "why">,
    why: string,
  ): ConfigEvent {
    return {
      ...event,
      time: Date.now(),
      action: "config-refused",
      why: `${why}; ${
        this.#good === undefined
          ? "nothing changed: the host stays as it is"
          : `version ${this.#good.slice(0, 12)} stays in force`
      }`,
    };
  }
}

/**
 * Starts the watcher of the state directory (as {@linkcode watch} does:
 * its lock, its reconcile, its rules) with the desired-state file `file`
 * kept applied: at start, when the file's directory shows a change (a
 * ConfigMap's `..data` swap, a rename over the file, a write in place),
 * and on {@linkcode ConfigWatcher.reload}. A version that does not parse
 * or validate is refused and changes nothing.
 *
 * Only the file's own directory is watched: a file that is a symlink to
 * another directory (other than through a ConfigMap's `..data`) is read
 * again on `reload()` only.
 *
 * Needs what `watch()` and `apply()` need: `--allow-ffi`, root, and
 * `--allow-env=BPFX_STATE,LOG_TOKENS,LOG_STREAM`.
 *
 * @example A service that follows a ConfigMap
 * ```ts ignore
 * import { watchConfig } from "./watch.ts";
 * using w = watchConfig("/etc/bpfx/bpfx.yaml", { state: "/run/bpfx" });
 * Deno.addSignalListener("SIGHUP", () => w.reload());
 * for await (const e of w) console.log(e.action, e.why, w.ready);
 * ```
 *
 * @throws {BpfError} of kind `busy` when another watcher holds the state
 * directory, `not-found` when the file's directory does not exist.
 */
export function watchConfig(
  file: string,
  options: WatchConfigOptions = {},
): ConfigWatcher {
  return new ConfigWatcher(INTERNAL, file, options);
}
