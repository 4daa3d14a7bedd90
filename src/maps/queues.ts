/**
 * Queues and stacks (and bloom filters): maps whose elements have no keys,
 * pushed onto, popped from and peeked at.
 *
 * @module
 */

import type { MapAccess } from "./access.ts";
import { ENOENT, FLAG_BITS, KEYLESS } from "./_consts.ts";
import type { PushOptions } from "./types.ts";

/** Pushes `value` onto the queue or stack `m`. */
export function push(
  m: MapAccess,
  value: unknown,
  options?: PushOptions,
): void {
  keyless(m, "push onto");
  const v = m.valueBytes(value, "BPF_MAP_UPDATE_ELEM");
  const flags = options?.overwrite ? FLAG_BITS.exist : 0n;
  const rc = m.updateRaw(null, v, flags);
  if (rc !== 0) {
    throw m.errors.fail(
      rc,
      "BPF_MAP_UPDATE_ELEM",
      undefined,
      undefined,
      "push",
    );
  }
}

/** Takes the value at the front of `m`; undefined when it is empty. */
export function pop(m: MapAccess): unknown {
  return front(m, "pop");
}

/** The value at the front of `m`, left there; undefined when it is empty. */
export function peek(m: MapAccess): unknown {
  return front(m, "peek");
}

/**
 * The value at the front of a queue or stack (taken off by `pop`), or
 * undefined when it is empty.
 */
function front(m: MapAccess, queueVerb: "pop" | "peek"): unknown {
  const pop = queueVerb === "pop";
  keyless(m, pop ? "pop from" : "peek at");
  const op = pop ? "BPF_MAP_LOOKUP_AND_DELETE_ELEM" : "BPF_MAP_LOOKUP_ELEM";
  const rc = m.lookupFront(pop);
  if (rc === 0) return m.frontValue();
  if (rc === -ENOENT) return undefined;
  throw m.errors.fail(rc, op, undefined, undefined, queueVerb);
}

/** Throws unless the elements of `m` have no keys. */
function keyless(m: MapAccess, verb: string): void {
  if (KEYLESS.has(m.meta.mapType)) return;
  throw m.errors.notKeyless(verb);
}
