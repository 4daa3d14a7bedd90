/**
 * How the data lane's failures read: who a map is ({@linkcode MapIdentity}),
 * how keys and values are shown, and the error of each failed call of a map
 * ({@linkcode MapErrors}), by errno, with the command and the key.
 *
 * @module
 */

import { EncodeProblem, type Node, show } from "../codec/mod.ts";
import {
  type AnyBpfError,
  BpfAlreadyExistsError,
  BpfError,
  BpfNotFoundError,
  type ErrorKind,
  NotSupportedError,
} from "../errors.ts";
import {
  ARRAYS,
  E2BIG,
  EBADF,
  EEXIST,
  EINVAL,
  ENOENT,
  ENOSPC,
  ENOTSUPP,
  EOPNOTSUPP,
  KEYLESS,
  type Op,
  RINGS,
} from "./_consts.ts";
import { perCpuStride } from "./per_cpu.ts";
import type { MapMeta, UpdateFlag } from "./types.ts";

/** Who a map is, for messages. */
export interface MapIdentity {
  readonly name: string;
  readonly path: string | null;
  /** The map type's name: `hash`, `ringbuf`, ... */
  readonly type: string;
}

/** The fields of an error of a map, but its message. */
export interface ErrorInit {
  kind: ErrorKind;
  op: string;
  errno: number;
  path?: string;
  hint?: string;
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  7: "E2BIG",
  9: "EBADF",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  22: "EINVAL",
  28: "ENOSPC",
  95: "EOPNOTSUPP",
  524: "ENOTSUPP",
};

/** A key or value as a message shows it. */
export function text(v: unknown): string {
  if (v instanceof Uint8Array) {
    const shown = Array.from(
      v.subarray(0, 16),
      (b) => b.toString(16).padStart(2, "0"),
    ).join(" ");
    return `hex ${shown}${v.length > 16 ? " ..." : ""}`;
  }
  return show(v);
}

function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** The fields of an error of map `id`. */
export function errorInit(
  id: MapIdentity,
  kind: ErrorKind,
  op: string,
  errno: number,
  hint?: string,
): ErrorInit {
  const init: ErrorInit = { kind, op, errno };
  if (id.path !== null) init.path = id.path;
  if (hint !== undefined) init.hint = hint;
  return init;
}

/** The errors of one map: their messages name it, its key and the call. */
export class MapErrors {
  readonly #id: MapIdentity;
  readonly #meta: MapMeta;
  readonly #keyNode: Node;
  /** Throws the "handle is closed" error when the map is closed. */
  readonly #checkOpen: (verb: string) => void;

  constructor(
    id: MapIdentity,
    meta: MapMeta,
    keyNode: Node,
    checkOpen: (verb: string) => void,
  ) {
    this.#id = id;
    this.#meta = meta;
    this.#keyNode = keyNode;
    this.#checkOpen = checkOpen;
  }

  /** The fields of an error of this map. */
  init(kind: ErrorKind, op: string, errno: number, hint?: string): ErrorInit {
    return errorInit(this.#id, kind, op, errno, hint);
  }

  /** A key or value the codec could not encode. */
  encode(what: "key" | "value", e: unknown): AnyBpfError {
    if (e instanceof EncodeProblem) {
      return new BpfError(
        `Cannot encode ${what} of map "${this.#id.name}": ${e.describe()}`,
        this.init("invalid", "encode", EINVAL),
      );
    }
    if (e instanceof Error) {
      return new BpfError(
        `Cannot encode ${what} of map "${this.#id.name}": ${e.message}`,
        { ...this.init("invalid", "encode", EINVAL), cause: e },
      );
    }
    return new BpfError(
      `Cannot encode ${what} of map "${this.#id.name}": ${String(e)}`,
      this.init("invalid", "encode", EINVAL),
    );
  }

  /** Bytes of the wrong size for a key or value. */
  size(
    what: "key" | "value",
    got: number,
    op: Op,
    key: unknown,
  ): BpfError {
    const want = what === "key" ? this.#meta.keySize : this.#meta.valueBufSize;
    const perCpu = what === "value" && this.#meta.perCpu
      ? ` (${this.#meta.cpus} CPUs of ${this.#meta.valueSize} bytes, each padded to ${
        perCpuStride(this.#meta.valueSize)
      })`
      : "";
    const subject = what === "key" && key !== undefined
      ? `key ${this.keyText(key)}`
      : `a ${what}`;
    return new BpfError(
      `Cannot use ${subject} of ${got} bytes with map "${this.#id.name}": its ${what}s are ${want} bytes${perCpu}`,
      this.init("invalid", op, EINVAL),
    );
  }

  /** Keys given to a map whose elements have none. */
  notKeyed(op: Op): BpfError {
    const { name, type } = this.#id;
    const why = RINGS.has(this.#meta.mapType)
      ? `it is a ${type}, which has records, not entries: read them with records() or openRingBuf()`
      : `it is a ${type}, whose elements have no keys: use push(), pop() or peek()`;
    return new BpfError(
      `Cannot use keys with map "${name}": ${why}`,
      this.init("wrong-kind", op, EINVAL),
    );
  }

  /** A queue's or stack's operation (push, pop, peek) on another map. */
  notKeyless(verb: string): BpfError {
    const { name, type } = this.#id;
    const why = RINGS.has(this.#meta.mapType)
      ? `it is a ${type}: read its records with records() or openRingBuf()`
      : `it is a ${type}, whose elements have keys: use set(), get() and delete()`;
    return new BpfError(
      `Cannot ${verb} map "${name}": ${why}`,
      this.init(
        "wrong-kind",
        verb.startsWith("push") ? "BPF_MAP_UPDATE_ELEM" : "BPF_MAP_LOOKUP_ELEM",
        EINVAL,
      ),
    );
  }

  /**
   * A key as every message shows it: decoded by the map's key type (BTF or
   * codec) when it is given as bytes of the key's size, so that `42` and its
   * bytes `2a 00 00 00` read the same; else as given (`hex ..` for bytes).
   */
  keyText(key: unknown): string {
    if (key instanceof Uint8Array && key.length === this.#meta.keySize) {
      try {
        const decoded = this.#keyNode.dec(
          new DataView(key.buffer, key.byteOffset, key.byteLength),
          key,
          0,
        );
        if (!(decoded instanceof Uint8Array)) return show(decoded);
      } catch {
        // Not decodable: shown as bytes below.
      }
    }
    return text(key);
  }

  /** The error of a failed call that returned `rc` (a negative errno). */
  fail(
    rc: number,
    op: Op,
    key?: unknown,
    flag?: UpdateFlag,
    queueVerb?: "push" | "pop" | "peek",
    doneBefore?: number,
  ): AnyBpfError {
    const errno = -rc;
    const { name, type } = this.#id;
    const k = key === undefined ? "" : ` ${this.keyText(key)}`;
    const where = `map "${name}"`;
    let what: string;
    switch (op) {
      case "BPF_MAP_LOOKUP_ELEM":
        what = queueVerb === "peek"
          ? `peek at ${where}`
          : `look up key${k} in ${where}`;
        break;
      case "BPF_MAP_UPDATE_ELEM":
        what = queueVerb === "push"
          ? `push onto ${where}`
          : `set key${k} in ${where}`;
        break;
      case "BPF_MAP_DELETE_ELEM":
        what = `delete key${k} from ${where}`;
        break;
      case "BPF_MAP_LOOKUP_AND_DELETE_ELEM":
        what = queueVerb === "pop"
          ? `pop from ${where}`
          : `take key${k} from ${where}`;
        break;
      case "BPF_MAP_GET_NEXT_KEY":
        what = `list the keys of ${where}`;
        break;
      case "BPF_MAP_LOOKUP_BATCH":
        what = `read the entries of ${where}`;
        break;
      case "BPF_MAP_UPDATE_BATCH":
        what = `set key${k} in ${where}`;
        break;
      case "BPF_MAP_DELETE_BATCH":
        what = `delete key${k} from ${where}`;
        break;
    }
    const after = doneBefore === undefined || doneBefore === 0
      ? ""
      : ` (${doneBefore} done before it)`;
    if (errno === EBADF) this.#checkOpen("use");
    const reasons: Record<number, [ErrorKind, string, string?]> = {
      [ENOENT]: ["not-found", "no such key"],
      [EEXIST]: [
        "exists",
        `the key exists${flag === "noexist" ? ' (flag "noexist")' : ""}`,
        'use flag "any" to replace it',
      ],
      [E2BIG]: [
        "invalid",
        KEYLESS.has(this.#meta.mapType)
          ? `the ${type} is full (${this.#meta.maxEntries} elements)`
          : `the map is full (${this.#meta.maxEntries} entries)`,
        KEYLESS.has(this.#meta.mapType)
          ? "pop elements first, or push with { overwrite: true }"
          : "delete entries first, or give the map more entries (max_entries)",
      ],
      1: ["permission", "operation not permitted", "needs root or CAP_BPF"],
      13: [
        "permission",
        "permission denied",
        "needs root or CAP_BPF, and a map that is not read-only or frozen for this access",
      ],
      16: ["busy", "the map is busy"],
      [ENOSPC]: ["os", "no space left"],
      12: ["os", "out of memory"],
    };
    const known = reasons[errno];
    let kind: ErrorKind;
    let reason: string;
    let hint: string | undefined;
    if (known !== undefined) {
      [kind, reason, hint] = known;
      if (errno === ENOENT && queueVerb !== undefined) {
        reason = `the ${type} is empty`;
      }
    } else if (errno === EINVAL) {
      kind = "invalid";
      reason = "the kernel refused it (EINVAL)";
      if (ARRAYS.has(this.#meta.mapType) && op.includes("DELETE")) {
        reason = `the elements of an ${type} cannot be deleted (EINVAL)`;
        hint = "set them to zero instead";
      } else if (ARRAYS.has(this.#meta.mapType) && flag === "noexist") {
        reason = `the elements of an ${type} always exist (EINVAL)`;
        hint = 'use flag "any" or "exist"';
      }
    } else if (errno === ENOTSUPP || errno === EOPNOTSUPP) {
      return new NotSupportedError(
        `Cannot ${what}: the kernel does not support ${op} on ${type} maps${after}`,
        {
          ...this.init("not-supported", op, errno),
          feature: `${op} on ${type} maps`,
        },
      );
    } else {
      kind = "os";
      reason = `${errnoName(errno)}`;
    }
    const message = `Cannot ${what}: ${reason}${after}`;
    const init = this.init(kind, op, errno, hint);
    if (kind === "not-found") return new BpfNotFoundError(message, init);
    if (kind === "exists") return new BpfAlreadyExistsError(message, init);
    return new BpfError(message, init);
  }
}
