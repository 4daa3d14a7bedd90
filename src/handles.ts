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
import { OwnedHandle } from "./_owned.ts";
import {
  chunks,
  clear,
  deleteMany,
  iterate,
  type IterateOptions,
  MapAccess,
  type MapBtf,
  type MapChunk,
  type MapIteration,
  type MapMeta,
  type MapOptions,
  openRingBuf,
  peek,
  pop,
  push,
  type PushOptions,
  type RingBuf,
  setMany,
  type SetOptions,
} from "./maps/mod.ts";
import type { LinkInfo, MapInfo, ObjectInfo, ProgramInfo } from "./pins.ts";
import type { ObjectKind } from "./types.ts";

const INTERNAL: unique symbol = Symbol("bpfx.internal");

const NOUNS: Record<ObjectKind, string> = {
  prog: "program",
  map: "map",
  link: "link",
};

let handleOfObject: (object: BpfObject, verb: string) => number;

/**
 * A kernel object held open through a handle in the core. Close it with
 * {@linkcode BpfObject.close} or `using`; a handle that is garbage collected
 * unclosed is closed then, but do not rely on it.
 */
export abstract class BpfObject<I extends ObjectInfo = ObjectInfo>
  implements Disposable {
  readonly #handle: OwnedHandle;
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
    this.#handle = new OwnedHandle(handle, this);
    this.#info = info;
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
    return this.#handle.value === undefined;
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
    this.#handle.close();
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
    this.#handle.take();
    const Class = this.constructor as new (
      key: typeof INTERNAL,
      handle: number,
      info: I,
    ) => this;
    return new Class(INTERNAL, handle, this.#info);
  }

  #use(verb: string): number {
    const handle = this.#handle.value;
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

let configureMap: (map: BpfMap<unknown, unknown>, options: MapOptions) => void;

/**
 * A BPF map held open, with its entries on the data lane.
 *
 * Keys and values are typed by the map's BTF when it has some: integers of
 * 64 bits as bigint and smaller ones as number, structs as objects,
 * `char[N]` as strings, enums by name (see `BtfType`). A map without BTF
 * gives and takes `Uint8Array`s (LPM trie keys as `{prefixLen, data}`), and
 * {@linkcode openMap} takes codecs of your own. A `Uint8Array` of the right
 * size is always taken as the raw bytes of a key or value. Per-CPU maps give
 * and take an array of one value per possible CPU.
 *
 * Each element operation is one synchronous call on buffers the map keeps;
 * iteration reads batches of entries (see {@linkcode BpfMap.entries}).
 * Failures are {@linkcode BpfError}s whose `op` names the command
 * (`BPF_MAP_UPDATE_ELEM`, ...) and whose `path` is the map's pin.
 *
 * @typeParam K the keys' type (`unknown` unless given)
 * @typeParam V the values' type (per-CPU maps: an array of them)
 */
export class BpfMap<K = unknown, V = unknown> extends BpfObject<MapInfo>
  implements AsyncIterable<[K, V]> {
  #meta: MapMeta | undefined;
  readonly #type: string;
  #options: MapOptions = {};
  #access: MapAccess | undefined;

  static {
    configureMap = (map, options) => {
      map.#options = options;
      map.#access = undefined;
      if (
        options.raw || options.key !== undefined || options.value !== undefined
      ) {
        map.#data(); // refuse a codec of the wrong size now
      }
    };
  }

  /** Not for use: open maps with {@linkcode openMap}. */
  constructor(key: typeof INTERNAL, handle: number, info: MapInfo) {
    super(key, handle, info);
    this.#meta = (info as MapInfo & { map?: MapMeta }).map;
    this.#type = info.type;
  }

  /** Always `"map"`. */
  get kind(): "map" {
    return "map";
  }

  /** The map type: `"hash"`, `"array"`, `"percpu_hash"`, `"ringbuf"`, ... */
  get type(): string {
    return this.#type;
  }

  /** Sizes, CPUs and BTF ids, as the data lane uses them. */
  get meta(): MapMeta {
    return this.#data().meta;
  }

  /** The key and value types from the map's BTF, or null without BTF. */
  btf(): MapBtf | null {
    return this.#data().btf();
  }

  /**
   * The value of `key`, or `undefined` when the map has no such key.
   *
   * @throws {BpfError} of kind `invalid` for a key of the wrong type or size,
   * `wrong-kind` on a queue, stack or ring buffer.
   */
  get(key: K): V | undefined {
    return (this.#access ?? this.#data()).get(key) as V | undefined;
  }

  /**
   * Looks up `key` and writes the value's raw bytes into `out` (the map's
   * `meta.valueBufSize` bytes; a larger buffer gets them at its start).
   * Allocates nothing. Returns whether the key exists.
   */
  getInto(key: K | Uint8Array, out: Uint8Array): boolean {
    return (this.#access ?? this.#data()).getInto(key, out);
  }

  /** Whether the map has `key`. */
  has(key: K): boolean {
    return (this.#access ?? this.#data()).has(key);
  }

  /**
   * Sets the value of `key`. With `flag: "noexist"` an existing key is
   * refused ({@linkcode BpfAlreadyExistsError}); with `"exist"` a missing
   * one ({@linkcode BpfNotFoundError}).
   *
   * @throws {BpfError} of kind `invalid` when the map is full (errno E2BIG),
   * or the key or value does not fit the map's types.
   */
  set(key: K, value: V, options?: SetOptions): void {
    (this.#access ?? this.#data()).set(key, value, options);
  }

  /**
   * Checks that `key` and `value` fit the map's types, as {@linkcode set}
   * would encode them, and writes nothing.
   *
   * @throws {BpfError} of kind `invalid` (op `encode`) when one does not
   * fit, with what `set()` would say.
   */
  check(key: K, value: V): void {
    (this.#access ?? this.#data()).encodes(key, value);
  }

  /**
   * Deletes `key`.
   *
   * @throws {BpfNotFoundError} when the map has no such key.
   */
  delete(key: K): void {
    (this.#access ?? this.#data()).delete(key);
  }

  /**
   * Deletes `key` and returns its value (Linux 5.14 for hash maps).
   *
   * @throws {BpfNotFoundError} when the map has no such key.
   */
  lookupAndDelete(key: K): V {
    return (this.#access ?? this.#data()).lookupAndDelete(key) as V;
  }

  /**
   * `key` as every message of the map shows it: decoded by the map's key
   * type when given as bytes of the key's size (`42`, not `hex 2a 00 00
   * 00`), so that the CLI's messages and the API's read the same.
   */
  keyText(key: K | Uint8Array): string {
    return (this.#access ?? this.#data()).keyText(key);
  }

  /**
   * The entries as `[key, value]` pairs, read in batches of 16384
   * (`BPF_MAP_LOOKUP_BATCH`) where the map type has them and by
   * `BPF_MAP_GET_NEXT_KEY` otherwise. Iterate with `for await` (the next
   * batch is read on Deno's thread pool meanwhile) or with `for ... of`.
   * Entries added or removed during the iteration may or may not be seen.
   */
  entries(options?: IterateOptions): MapIteration<[K, V]> {
    return iterate<[K, V]>(this.#data(), "entries", options);
  }

  /** The keys, as {@linkcode BpfMap.entries} reads them. */
  keys(options?: IterateOptions): MapIteration<K> {
    return iterate<K>(this.#data(), "keys", options);
  }

  /** The values, as {@linkcode BpfMap.entries} reads them. */
  values(options?: IterateOptions): MapIteration<V> {
    return iterate<V>(this.#data(), "values", options);
  }

  /**
   * The entries as raw batches ({@linkcode MapChunk}): no decoding and no
   * copy; each batch's buffers are reused once the iteration moves on.
   */
  chunks(options?: IterateOptions): MapIteration<MapChunk> {
    return chunks(this.#data(), options);
  }

  /** The entries, for `for await (const [key, value] of map)`. */
  [Symbol.asyncIterator](): AsyncIterator<[K, V]> {
    return this.entries()[Symbol.asyncIterator]();
  }

  /**
   * Removes every entry (arrays: sets every element to zero bytes; queues
   * and stacks: pops every element). Returns how many it removed (or
   * zeroed).
   */
  clear(): number {
    return clear(this.#data());
  }

  /**
   * Sets many entries, 16384 per call (`BPF_MAP_UPDATE_BATCH`), or one call
   * each where the map type has no batches. Returns how many were set.
   *
   * @throws {BpfError} as {@linkcode BpfMap.set} does; the message says how
   * many entries were set before the failure.
   */
  setMany(entries: Iterable<readonly [K, V]>, options?: SetOptions): number {
    return setMany(this.#data(), entries, options);
  }

  /**
   * Deletes many keys (`BPF_MAP_DELETE_BATCH`); missing keys are skipped.
   * Returns how many were deleted.
   */
  deleteMany(keys: Iterable<K>): number {
    return deleteMany(this.#data(), keys);
  }

  /**
   * Pushes `value` onto a queue or stack.
   *
   * @throws {BpfError} of kind `invalid` (errno E2BIG) when it is full,
   * unless `options.overwrite` drops the oldest element.
   */
  push(value: V, options?: PushOptions): void {
    push(this.#data(), value, options);
  }

  /** Takes the next element of a queue or stack; `undefined` when empty. */
  pop(): V | undefined {
    return pop(this.#data()) as V | undefined;
  }

  /** The next element of a queue or stack, left in place; `undefined` when empty. */
  peek(): V | undefined {
    return peek(this.#data()) as V | undefined;
  }

  /**
   * Opens this ring buffer's records (see {@linkcode openRingBuf}): a new
   * handle of its own, to close apart.
   */
  records(): RingBuf {
    const path = this.path;
    if (path === null) {
      throw new BpfError(
        `Cannot read the records of map "${this.name}": it was not opened from a pin`,
        { kind: "invalid", op: "open" },
      );
    }
    return openRingBuf(path);
  }

  /** Closes the handle; safe to call twice. */
  override close(): void {
    this.#access = undefined;
    super.close();
  }

  /** Moves the handle into a new object; this one is closed. */
  override take(): this {
    const taken = super.take();
    taken.#meta ??= this.#meta;
    taken.#options = this.#options;
    this.#access = undefined;
    return taken;
  }

  #data(): MapAccess {
    if (this.#access !== undefined) return this.#access;
    const handle = handleOf(this, "use");
    const meta = this.#meta;
    if (meta === undefined) {
      throw new BpfError(
        `Cannot use map "${this.name}": the core did not describe it`,
        { kind: "internal", op: "open" },
      );
    }
    this.#access = new MapAccess(
      handle,
      meta,
      { name: this.name, path: this.path, type: this.#type },
      this.#options,
      (verb) => {
        handleOf(this, verb);
      },
    );
    return this.#access;
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
      return new BpfMap(INTERNAL, handle, info as MapInfo);
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
 * Opens the map pinned at `path`, refusing any other kind of object (and,
 * with `options.type`, a map of another type). Keys and values are typed by
 * the map's BTF unless `options` says otherwise (see {@linkcode BpfMap}).
 * Needs what {@linkcode openPin} needs.
 *
 * @example Count, read and list
 * ```ts ignore
 * import { openMap } from "./mod.ts";
 * using counts = openMap<number, bigint>("/sys/fs/bpf/app/maps/counts");
 * counts.set(42, 1n);
 * console.log(counts.get(42)); // 1n
 * for await (const [key, value] of counts) console.log(key, value);
 * ```
 */
export function openMap<K = unknown, V = unknown>(
  path: string,
  options: MapOptions = {},
): BpfMap<K, V> {
  const map = openPin(path, { kind: "map" }) as BpfMap<K, V>;
  try {
    if (options.type !== undefined) {
      const want = typeof options.type === "string"
        ? [options.type]
        : options.type;
      if (!want.includes(map.type)) {
        throw new BpfError(
          `Cannot open "${path}" as a ${
            want.join(" or ")
          } map: it is a ${map.type}`,
          { kind: "wrong-kind", op: "open", path },
        );
      }
    }
    configureMap(map as BpfMap<unknown, unknown>, options);
  } catch (error) {
    map.close();
    throw error;
  }
  return map;
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
