/**
 * The binding of the bpfx core library (`libbpfx_core.so`): its one symbol
 * table and how the library file is found. Nothing else calls `Deno.dlopen`.
 *
 * The library is opened on first use, from the first of:
 *
 * 1. the file named by the `BPFX_LIB` environment variable, if set;
 * 2. when this module is a local file: `dist/libbpfx_core-<target>.so` beside
 *    it (built by `make`);
 * 3. when this module was imported over http(s): the per-user cache
 *    `<cache>/bpfx/<version>/<sha256>/libbpfx_core.so`, where `<cache>` is
 *    `$DENO_DIR`, else `$XDG_CACHE_HOME/deno`, else `~/.cache/deno`. On a
 *    miss, `dist/manifest.json` beside the module names the file to fetch and
 *    its sha256; the download is checked, written to a temporary file and
 *    renamed into place. The download is asynchronous and the API is not, so
 *    it runs when {@linkcode ready} is awaited, never at import: a call made
 *    before the library is in the cache throws a `BpfError` that says to
 *    `await ready()`, or the download's own error once one has failed. A
 *    library already in the cache is opened on first use, with no
 *    `ready()`. The cache and the download are in `src/_library.ts`.
 *
 * @module
 */

import { type AnyBpfError, BpfError, BpfNotFoundError } from "./errors.ts";
import {
  ABI_VERSION,
  cachedLibrary,
  env,
  fetchLibrary,
  type LibraryLocation,
  MODULE_URL,
  REMOTE,
  TARGET,
  toBpfError,
} from "./_library.ts";

export { ABI_VERSION, type LibraryLocation } from "./_library.ts";

/** The symbol table of `libbpfx_core.so`, ABI version 1 (docs/ABI.md). */
export const symbols = {
  /** `uint32_t bpfx_abi_version(void)` */
  bpfx_abi_version: {
    parameters: [],
    result: "u32", // uint32_t
  },
  /** `int32_t bpfx_call(...)`: the control lane, JSON in and JSON out. */
  bpfx_call: {
    parameters: [
      "buffer", // const uint8_t *req
      "usize", // size_t req_len
      "buffer", // uint8_t *out
      "usize", // size_t out_cap
      "buffer", // uint64_t *out_meta: [reply length, token]
    ],
    result: "i32", // int32_t: 0 ok, 1 error, 2 fetch by token, -1 bad request
  },
  /**
   * `bpfx_call` again, bound `nonblocking`: for the bulk operations (`attach`,
   * `detach`) that may run for seconds. It runs on Deno's blocking thread
   * pool and returns a promise; its buffers must not be shared with a
   * concurrent call, and must stay referenced until the promise settles.
   */
  bpfx_call_nonblocking: {
    name: "bpfx_call",
    parameters: [
      "buffer", // const uint8_t *req
      "usize", // size_t req_len
      "buffer", // uint8_t *out
      "usize", // size_t out_cap
      "buffer", // uint64_t *out_meta: [reply length, token]
    ],
    result: "i32", // int32_t: as bpfx_call
    nonblocking: true,
  },
  /** `int32_t bpfx_fetch(...)`: collects a reply that did not fit. */
  bpfx_fetch: {
    parameters: [
      "u32", // uint32_t token
      "buffer", // uint8_t *out
      "usize", // size_t out_cap
    ],
    result: "i32", // int32_t: 0 ok, 1 error, -1 unknown token or too small
  },
  /** `int32_t bpfx_close(uint32_t handle)` */
  bpfx_close: {
    parameters: [
      "u32", // uint32_t handle
    ],
    result: "i32", // int32_t: 0 closed, -1 no such handle
  },
  /**
   * `int64_t bpfx_read(...)`: the data lane of views. Reads from a reader
   * handle (op `view_open`); blocks while the program runs, so it is bound
   * `nonblocking`.
   */
  bpfx_read: {
    parameters: [
      "u32", // uint32_t handle
      "buffer", // uint8_t *buf
      "usize", // size_t cap
      "buffer", // uint8_t *err: a NUL-terminated JSON error on -1
      "usize", // size_t err_cap
    ],
    result: "i64", // int64_t: bytes read, 0 at the end, -1 error in err
    nonblocking: true,
  },
  /**
   * `int64_t bpfx_next(...)`: the data lane of event sources (ops
   * `events_open` and `watch_open`, whose output is JSON lines). Waits up to
   * `timeout_ms` for events and writes what came; blocks, so it is bound
   * `nonblocking`.
   */
  bpfx_next: {
    parameters: [
      "u32", // uint32_t handle
      "i32", // int32_t timeout_ms: -1 waits with no limit
      "buffer", // uint8_t *buf
      "usize", // size_t cap
      "buffer", // uint8_t *err: a NUL-terminated JSON error on -1
      "usize", // size_t err_cap
    ],
    result: "i64", // int64_t: bytes written (0: none yet), -2 woken, -1 error in err
    nonblocking: true,
  },
  /**
   * `int32_t bpfx_wake(uint32_t handle)`: makes a `bpfx_next` blocked on the
   * source return -2, and every later one; call it before `bpfx_close`.
   */
  bpfx_wake: {
    parameters: [
      "u32", // uint32_t handle
    ],
    result: "i32", // int32_t: 0 woken, -1 not a source
  },
  /** `void bpfx_progress(uint64_t *out)`: progress of attach or detach. */
  bpfx_progress: {
    parameters: [
      "buffer", // uint64_t *out: [done, total]
    ],
    result: "void",
  },
  // --- maps on the data lane (docs/ABI.md, "Maps on the data lane") ------
  // Synchronous (fast) calls on a map handle (op `open`) and the caller's
  // buffers, whose lengths the core checks against the map. Each returns 0
  // or a negative errno. A key of length 0 is the NULL key (the first key of
  // `next_key`; push, pop and peek on queues and stacks).
  /** `int32_t bpfx_map_lookup(...)`: `BPF_MAP_LOOKUP_ELEM`. */
  bpfx_map_lookup: {
    parameters: [
      "u32", // uint32_t h
      "buffer", // const uint8_t *key
      "usize", // size_t key_len
      "buffer", // uint8_t *value
      "usize", // size_t value_len: the map's valueBufSize
      "u64", // uint64_t flags
    ],
    result: "i32", // int32_t: 0, or -errno (-ENOENT: no such key)
  },
  /** `int32_t bpfx_map_update(...)`: `BPF_MAP_UPDATE_ELEM`. */
  bpfx_map_update: {
    parameters: [
      "u32", // uint32_t h
      "buffer", // const uint8_t *key
      "usize", // size_t key_len
      "buffer", // const uint8_t *value
      "usize", // size_t value_len: the map's valueBufSize
      "u64", // uint64_t flags: 0 any, 1 no-exist, 2 exist, 4 lock
    ],
    result: "i32", // int32_t: 0, or -errno (-EEXIST, -ENOENT, -E2BIG)
  },
  /**
   * `bpfx_map_lookup` and `bpfx_map_update` again, with pointer parameters:
   * for buffers the caller passes call after call, whose pointers it has
   * taken once (a pointer skips the typed-array checks of a `buffer`).
   */
  bpfx_map_lookup_ptr: {
    name: "bpfx_map_lookup",
    parameters: [
      "u32", // uint32_t h
      "pointer", // const uint8_t *key
      "usize", // size_t key_len
      "pointer", // uint8_t *value
      "usize", // size_t value_len
      "u64", // uint64_t flags
    ],
    result: "i32", // int32_t: as bpfx_map_lookup
  },
  bpfx_map_update_ptr: {
    name: "bpfx_map_update",
    parameters: [
      "u32", // uint32_t h
      "pointer", // const uint8_t *key
      "usize", // size_t key_len
      "pointer", // const uint8_t *value
      "usize", // size_t value_len
      "u64", // uint64_t flags
    ],
    result: "i32", // int32_t: as bpfx_map_update
  },
  /** `int32_t bpfx_map_delete(...)`: `BPF_MAP_DELETE_ELEM`. */
  bpfx_map_delete: {
    parameters: [
      "u32", // uint32_t h
      "buffer", // const uint8_t *key
      "usize", // size_t key_len
    ],
    result: "i32", // int32_t: 0, or -errno (-ENOENT: no such key)
  },
  /** `int32_t bpfx_map_lookup_and_delete(...)`: pop with a NULL key. */
  bpfx_map_lookup_and_delete: {
    parameters: [
      "u32", // uint32_t h
      "buffer", // const uint8_t *key
      "usize", // size_t key_len
      "buffer", // uint8_t *value
      "usize", // size_t value_len: the map's valueBufSize
      "u64", // uint64_t flags
    ],
    result: "i32", // int32_t: 0, or -errno (-ENOENT: no such key, or empty)
  },
  /** `int32_t bpfx_map_next_key(...)`: `BPF_MAP_GET_NEXT_KEY`. */
  bpfx_map_next_key: {
    parameters: [
      "u32", // uint32_t h
      "buffer", // const uint8_t *key (length 0: the first key)
      "usize", // size_t key_len
      "buffer", // uint8_t *next: key-sized
      "usize", // size_t next_len
    ],
    result: "i32", // int32_t: 0, or -errno (-ENOENT: the end)
  },
  /** `int32_t bpfx_map_batch(...)`: the `BPF_MAP_*_BATCH` commands. */
  bpfx_map_batch: {
    parameters: [
      "u32", // uint32_t h
      "u32", // uint32_t op: 0 lookup, 1 lookup-and-delete, 2 update, 3 delete
      "buffer", // uint8_t *cursor: in and out batch tokens, half each
      "usize", // size_t cursor_len
      "buffer", // uint8_t *keys
      "usize", // size_t keys_len
      "buffer", // uint8_t *values
      "usize", // size_t values_len
      "buffer", // uint32_t *count_io: [offered -> done, in token set]
      "u64", // uint64_t flags: the elem flags
    ],
    result: "i32", // int32_t: 0, or -errno (-ENOENT with a count: the last batch)
  },
  /**
   * `bpfx_map_batch` again, bound `nonblocking`: a lookup batch that runs on
   * Deno's blocking thread pool while the caller decodes the previous one.
   * Its buffers must stay referenced, and untouched, until it settles.
   */
  bpfx_map_batch_nonblocking: {
    name: "bpfx_map_batch",
    parameters: [
      "u32", // uint32_t h
      "u32", // uint32_t op
      "buffer", // uint8_t *cursor
      "usize", // size_t cursor_len
      "buffer", // uint8_t *keys
      "usize", // size_t keys_len
      "buffer", // uint8_t *values
      "usize", // size_t values_len
      "buffer", // uint32_t *count_io
      "u64", // uint64_t flags
    ],
    result: "i32", // int32_t: as bpfx_map_batch
    nonblocking: true,
  },
  /** `uint32_t bpfx_open_handles(void)` */
  bpfx_open_handles: {
    parameters: [],
    result: "u32", // uint32_t
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound symbols of the core library. */
export type CoreSymbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/**
 * The symbols bound together. `Deno.dlopen` compiles a trampoline for every
 * symbol it binds (about 0.15 ms each), so a command binds only the groups
 * it uses: `bpfx ls` binds the control lane alone.
 */
const GROUPS = {
  control: [
    "bpfx_abi_version",
    "bpfx_call",
    "bpfx_fetch",
    "bpfx_close",
    "bpfx_open_handles",
  ],
  streams: [
    "bpfx_call_nonblocking",
    "bpfx_read",
    "bpfx_next",
    "bpfx_wake",
    "bpfx_progress",
  ],
  maps: [
    "bpfx_map_lookup",
    "bpfx_map_update",
    "bpfx_map_lookup_ptr",
    "bpfx_map_update_ptr",
    "bpfx_map_delete",
    "bpfx_map_lookup_and_delete",
    "bpfx_map_next_key",
    "bpfx_map_batch",
    "bpfx_map_batch_nonblocking",
  ],
} as const satisfies Record<string, readonly (keyof typeof symbols)[]>;

let location: LibraryLocation | undefined;
let remoteResult: LibraryLocation | AnyBpfError | undefined;
let bound: CoreSymbols | undefined;

/**
 * The core's symbols, opening the library on first use. Each group of
 * {@linkcode GROUPS} is bound the first time one of its symbols is read;
 * from then on its symbols are plain properties (V8's fast calls).
 */
export function core(): CoreSymbols {
  if (bound !== undefined) return bound;
  const table = {} as Record<string, unknown>;
  for (const [group, names] of Object.entries(GROUPS)) {
    for (const name of names) {
      Object.defineProperty(table, name, {
        configurable: true,
        enumerable: true,
        get: () => {
          bindGroup(table, group as keyof typeof GROUPS);
          return table[name];
        },
      });
    }
  }
  bound = table as CoreSymbols;
  return bound;
}

/** The bound groups' own symbol objects. */
const groupSymbols: Partial<Record<keyof typeof GROUPS, unknown>> = {};

/**
 * The symbols of one group of {@linkcode GROUPS}, bound if needed: the
 * library's own symbol object, for hot paths (a map's get and set) that
 * keep it, since reading a property of it is as fast as V8 allows.
 */
export function coreGroup<G extends keyof typeof GROUPS>(
  group: G,
): Pick<CoreSymbols, typeof GROUPS[G][number]> {
  const table = core() as unknown as Record<string, unknown>;
  if (groupSymbols[group] === undefined) bindGroup(table, group);
  return groupSymbols[group] as Pick<CoreSymbols, typeof GROUPS[G][number]>;
}

/** Binds one group's symbols into `table` (the control group first). */
function bindGroup(
  table: Record<string, unknown>,
  group: keyof typeof GROUPS,
): void {
  if (location === undefined && group !== "control") {
    bindGroup(table, "control");
  }
  const names: readonly (keyof typeof symbols)[] = GROUPS[group];
  const subset = Object.fromEntries(names.map((n) => [n, symbols[n]]));
  let lib;
  if (group === "control") {
    lib = open(subset);
  } else {
    try {
      lib = Deno.dlopen(location!.path, subset);
    } catch (cause) {
      throw openError(location!, cause);
    }
  }
  groupSymbols[group] = lib.symbols;
  for (const name of names) {
    Object.defineProperty(table, name, {
      configurable: false,
      enumerable: true,
      writable: false,
      value: lib.symbols[name],
    });
  }
}

/**
 * Where the core library was found, and by which rule (`BPFX_LIB`, the
 * per-user cache, or `dist/` beside the module): what `bpfx doctor` shows
 * as `core`. `undefined` until the first call into the core opened it
 * ({@linkcode doctor} is one).
 */
export function libraryLocation(): LibraryLocation | undefined {
  return location;
}

function locate(): LibraryLocation {
  const override = env("BPFX_LIB");
  if (override !== undefined && override !== "") {
    return { path: override, source: "BPFX_LIB" };
  }
  if (MODULE_URL.protocol === "file:") {
    const url = new URL(`../dist/libbpfx_core-${TARGET}.so`, MODULE_URL);
    return { path: decodeURIComponent(url.pathname), source: "dist" };
  }
  if (remoteResult instanceof Error) throw remoteResult;
  if (remoteResult !== undefined) return remoteResult;
  const cached = cachedLibrary();
  if (cached !== undefined) return cached;
  throw new BpfError(
    `Cannot load the bpfx core for "${MODULE_URL.href}": it is not downloaded yet`,
    {
      kind: "invalid",
      op: "dlopen",
      hint: pending === undefined
        ? "`await ready()` (exported by mod.ts) once before the first call: it downloads the core into the cache"
        : "the download has not finished: `await ready()` before the first call",
    },
  );
}

function isMissing(path: string, cause: unknown): boolean {
  try {
    Deno.statSync(path);
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    // Without read permission, fall back on what dlopen said.
    return cause instanceof Error &&
      cause.message.includes("No such file or directory");
  }
}

function open<S extends Deno.ForeignLibraryInterface>(
  subset: S,
): Deno.DynamicLibrary<S> {
  const where = locate();
  let lib: Deno.DynamicLibrary<S>;
  try {
    lib = Deno.dlopen(where.path, subset);
  } catch (cause) {
    throw openError(where, cause);
  }
  const abi = (lib.symbols.bpfx_abi_version as () => number)();
  if (abi !== ABI_VERSION) {
    lib.close();
    throw new BpfError(
      `Cannot use the bpfx core "${where.path}": it speaks ABI ${abi}, this module needs ABI ${ABI_VERSION}`,
      {
        kind: "incompatible",
        op: "bpfx_abi_version",
        path: where.path,
        hint: where.source === "BPFX_LIB"
          ? "point BPFX_LIB at a library built from the same bpfx version"
          : "rebuild the library with `make`",
      },
    );
  }
  location = where;
  return lib;
}

function openError(where: LibraryLocation, cause: unknown): AnyBpfError {
  const text = cause instanceof Error ? cause.message : String(cause);
  if (isMissing(where.path, cause)) {
    // The message says it all; Deno's own adds nothing.
    const named = where.source === "BPFX_LIB" ? " named by BPFX_LIB" : "";
    const root = decodeURIComponent(new URL("..", MODULE_URL).pathname)
      .replace(/\/$/, "");
    return new BpfNotFoundError(
      `Cannot open the bpfx core "${where.path}"${named}: no such file`,
      {
        kind: "not-found",
        op: "dlopen",
        errno: 2,
        path: where.path,
        hint: where.source === "BPFX_LIB"
          ? "unset BPFX_LIB or point it at libbpfx_core.so"
          : `run \`make\` in "${root}" to build it, or set BPFX_LIB`,
      },
    );
  }
  if (text.startsWith("Failed to register symbol")) {
    return new BpfError(
      `Cannot open the bpfx core "${where.path}": a symbol of ABI ${ABI_VERSION} is missing`,
      {
        kind: "incompatible",
        op: "dlopen",
        path: where.path,
        hint: "rebuild the library with `make`",
        cause,
      },
    );
  }
  // dlerror() says "<path>: <reason>"; keep the reason.
  const at = text.lastIndexOf(`${where.path}: `);
  const reason = at === -1 ? "" : text.slice(at + where.path.length + 2);
  return new BpfError(
    `Cannot open the bpfx core "${where.path}"${reason ? `: ${reason}` : ""}`,
    {
      kind: "os",
      op: "dlopen",
      path: where.path,
      ...(reason ? {} : { cause }),
    },
  );
}

/** The download under way, if {@linkcode ready} started one. */
let pending: Promise<void> | undefined;

/**
 * Resolves when the core library can be opened without waiting: at once for
 * a module imported from a file, with `BPFX_LIB` set, or with the library
 * already in the per-user cache; for a module imported over http(s), after
 * downloading, checking and caching it. Await it once before the first call
 * of a module imported by URL. It rejects with the download's error (which
 * the synchronous calls then throw too); awaiting it again tries again.
 */
export function ready(): Promise<void> {
  if (!REMOTE || (env("BPFX_LIB") ?? "") !== "") return Promise.resolve();
  if (remoteResult !== undefined && !(remoteResult instanceof Error)) {
    return Promise.resolve();
  }
  pending ??= fetchLibrary().then(
    (where) => {
      remoteResult = where;
    },
    (error) => {
      remoteResult = toBpfError(error);
      throw remoteResult;
    },
  ).finally(() => {
    pending = undefined;
  });
  return pending;
}
