/**
 * Handles on pinned kernel objects. {@linkcode openPin} and its narrower
 * siblings return a {@linkcode Program}, {@linkcode BpfMap} or
 * {@linkcode Link}: each owns one handle in the core (an open file
 * descriptor) until {@linkcode BpfObject.close} or `using` releases it, or
 * {@linkcode BpfObject.take} moves it to a new owner.
 *
 * @module
 */

import { call } from "./_call.ts";
import { BpfError } from "./errors.ts";
import { core } from "./ffi.ts";
import type {
  LinkInfo,
  MapInfo,
  ObjectInfo,
  ObjectKind,
  ProgramInfo,
} from "./pins.ts";

const INTERNAL: unique symbol = Symbol("bpfx.internal");

const NOUNS: Record<ObjectKind, string> = {
  prog: "program",
  map: "map",
  link: "link",
};

/** Closes the handles of objects collected without `close()`. */
const leaks = new FinalizationRegistry<number>((handle) => {
  core().bpfx_close(handle);
});

let handleOfObject: (object: BpfObject, verb: string) => number;

/**
 * A kernel object held open through a handle in the core. Close it with
 * {@linkcode BpfObject.close} or `using`; a handle that is garbage collected
 * unclosed is closed then, but do not rely on it.
 */
export abstract class BpfObject<I extends ObjectInfo = ObjectInfo>
  implements Disposable {
  #handle: number | undefined;
  #info: I;

  static {
    handleOfObject = (object, verb) => object.#use(verb);
  }

  /** Not for use: open objects with {@linkcode openPin} and its siblings. */
  constructor(key: typeof INTERNAL, handle: number, info: I) {
    if (key !== INTERNAL) {
      throw new TypeError(
        "Cannot construct a BpfObject: use openPin(), openProgram(), openMap() or openLink()",
      );
    }
    this.#handle = handle;
    this.#info = info;
    leaks.register(this, handle, this);
  }

  /** Which kind of object this is. */
  abstract get kind(): ObjectKind;

  /** The kernel's id of the object. */
  get id(): number {
    return this.#info.id;
  }

  /** The object's name (may be empty). */
  get name(): string {
    return this.#info.name;
  }

  /** The pin it was opened from. */
  get path(): string | null {
    return this.#info.path;
  }

  /** Whether the handle was closed or taken. */
  get closed(): boolean {
    return this.#handle === undefined;
  }

  /**
   * Asks the kernel to describe the object now.
   *
   * @throws {BpfError} when the handle is closed.
   */
  info(): I {
    const info = call<I>("handle_info", { handle: this.#use("describe") });
    this.#info = info;
    return info;
  }

  /** Releases the handle. Calling it again does nothing. */
  close(): void {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    leaks.unregister(this);
    core().bpfx_close(handle);
  }

  /** Releases the handle, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Moves the handle to a new object and returns it; this one is closed
   * afterwards (without closing the handle).
   *
   * @throws {BpfError} when the handle is closed.
   */
  take(): this {
    const handle = this.#use("take");
    this.#handle = undefined;
    leaks.unregister(this);
    const Class = this.constructor as new (
      key: typeof INTERNAL,
      handle: number,
      info: I,
    ) => this;
    return new Class(INTERNAL, handle, this.#info);
  }

  #use(verb: string): number {
    const handle = this.#handle;
    if (handle === undefined) {
      throw new BpfError(
        `Cannot ${verb} ${
          NOUNS[this.kind]
        } "${this.#info.name}" (id ${this.#info.id}): its handle is closed`,
        {
          kind: "invalid",
          op: "handle",
          errno: 9, // EBADF
          ...(this.#info.path === null ? {} : { path: this.#info.path }),
        },
      );
    }
    return handle;
  }

  /** How `console.log` shows the object. */
  [Symbol.for("Deno.customInspect")](): string {
    const state = this.closed ? ", closed" : "";
    return `${this.constructor.name} { id: ${this.id}, name: ${
      JSON.stringify(this.name)
    }${state} }`;
  }
}

/** A BPF program held open. */
export class Program extends BpfObject<ProgramInfo> {
  /** Always `"prog"`. */
  get kind(): "prog" {
    return "prog";
  }
}

/** A BPF map held open. */
export class BpfMap extends BpfObject<MapInfo> {
  /** Always `"map"`. */
  get kind(): "map" {
    return "map";
  }
}

/** A BPF link held open. */
export class Link extends BpfObject<LinkInfo> {
  /** Always `"link"`. */
  get kind(): "link" {
    return "link";
  }
}

/** Options for {@linkcode openPin}. */
export interface OpenOptions {
  /** Refuse the pin unless it holds an object of this kind. */
  kind?: ObjectKind;
}

/**
 * The handle id of `object`, for the other modules of the API (not exported
 * from `mod.ts`).
 *
 * @throws {BpfError} when the handle is closed.
 */
export function handleOf(object: BpfObject, verb = "use"): number {
  return handleOfObject(object, verb);
}

function wrap(handle: number, info: ObjectInfo): Program | BpfMap | Link {
  switch (info.kind) {
    case "prog":
      return new Program(INTERNAL, handle, info);
    case "map":
      return new BpfMap(INTERNAL, handle, info);
    case "link":
      return new Link(INTERNAL, handle, info);
    default: {
      core().bpfx_close(handle);
      const kind = (info as { kind: unknown }).kind;
      throw new BpfError(`Cannot open an object of unknown kind "${kind}"`, {
        kind: "internal",
        op: "open",
      });
    }
  }
}

/**
 * Opens the object pinned at `path`. With `options.kind`, the core refuses
 * an object of another kind (error kind `wrong-kind`).
 *
 * Needs `--allow-ffi`, and root or CAP_BPF (and read access to the pin).
 *
 * @example Reading a program's tag
 * ```ts ignore
 * import { openPin } from "./mod.ts";
 * using prog = openPin("/sys/fs/bpf/xdp/xdp_pass", { kind: "prog" });
 * console.log(prog.info().tag);
 * ```
 *
 * @throws {BpfNotFoundError} when nothing is pinned at `path`.
 */
export function openPin(path: string, options: { kind: "prog" }): Program;
/** Opens the map pinned at `path`, refusing any other kind of object. */
export function openPin(path: string, options: { kind: "map" }): BpfMap;
/** Opens the link pinned at `path`, refusing any other kind of object. */
export function openPin(path: string, options: { kind: "link" }): Link;
/** Opens the object pinned at `path`, of the kind `options.kind` if given. */
export function openPin(
  path: string,
  options?: OpenOptions,
): Program | BpfMap | Link;
export function openPin(
  path: string,
  options: OpenOptions = {},
): Program | BpfMap | Link {
  const params: Record<string, unknown> = { path };
  if (options.kind !== undefined) params.kind = options.kind;
  const { handle, ...info } = call<{ handle: number } & ObjectInfo>(
    "open",
    params,
  );
  if (options.kind !== undefined && info.kind !== options.kind) {
    core().bpfx_close(handle);
    throw new BpfError(
      `Cannot open "${path}" as a ${NOUNS[options.kind]}: it is a ${
        NOUNS[info.kind] ?? info.kind
      }`,
      { kind: "wrong-kind", op: "open", path },
    );
  }
  return wrap(handle, info as ObjectInfo);
}

/**
 * Opens the program pinned at `path`, refusing any other kind of object.
 * Needs what {@linkcode openPin} needs.
 */
export function openProgram(path: string): Program {
  return openPin(path, { kind: "prog" });
}

/**
 * Opens the map pinned at `path`, refusing any other kind of object.
 * Needs what {@linkcode openPin} needs.
 */
export function openMap(path: string): BpfMap {
  return openPin(path, { kind: "map" });
}

/**
 * Opens the link pinned at `path`, refusing any other kind of object.
 * Needs what {@linkcode openPin} needs.
 */
export function openLink(path: string): Link {
  return openPin(path, { kind: "link" });
}

/**
 * How many handles are open in the core now. Tests assert it is back to 0.
 * Needs `--allow-ffi`.
 */
export function openHandles(): number {
  return core().bpfx_open_handles();
}
