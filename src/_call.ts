/**
 * The control lane: one JSON request in, one JSON reply out (docs/ABI.md).
 *
 * {@linkcode call} is synchronous. Its request, reply and meta buffers are
 * allocated once and reused; the reply buffer grows when a reply does not
 * fit. {@linkcode callNonblocking} runs the same request on Deno's blocking
 * thread pool, for the bulk operations that may take seconds; each such call
 * has buffers of its own, since it overlaps synchronous calls and other
 * nonblocking ones, and keeps them referenced until the call settles. Both
 * decode the reply with the same code.
 *
 * @module
 */

import { BpfError, type CoreErrorObject, fromCoreObject } from "./errors.ts";
import { core } from "./ffi.ts";

const INITIAL_OUT = 64 * 1024;
/** Replies up to this size keep their grown buffer; larger ones get their own. */
const MAX_KEPT_OUT = 4 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The buffers one call writes its reply to. */
interface Lane {
  /** `out`: the reply buffer. */
  out: Uint8Array;
  /** `out_meta`: [reply length, token]. */
  readonly meta: BigUint64Array;
  /** Whether a grown reply buffer replaces `out` for the next call. */
  readonly reuse: boolean;
}

/** The synchronous lane's buffers, reused by every synchronous call. */
let request = new Uint8Array(4096);
const syncLane: Lane = {
  out: new Uint8Array(INITIAL_OUT),
  meta: new BigUint64Array(2),
  reuse: true,
};

function encode(text: string): number {
  // encodeInto writes at most 3 bytes per UTF-16 unit.
  if (request.length < text.length * 3) {
    request = new Uint8Array(Math.max(request.length * 2, text.length * 3));
  }
  return encoder.encodeInto(text, request).written;
}

function protocolError(op: string, what: string): BpfError {
  return new BpfError(`Cannot run "${op}" in the bpfx core: ${what}`, {
    kind: "internal",
    op,
  });
}

function decode(op: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (cause) {
    throw new BpfError(
      `Cannot run "${op}" in the bpfx core: the reply is not JSON`,
      { kind: "internal", op, cause },
    );
  }
}

/**
 * Turns the status of a `bpfx_call` into its reply: collects a reply that
 * did not fit (status 2), parses the JSON, and throws the error class
 * matching the core's error object.
 */
function finish<T>(op: string, first: number, lane: Lane): T {
  let status = first;
  const size = Number(lane.meta[0] ?? 0n);
  let reply = lane.out;
  if (status === 2) {
    const token = Number(lane.meta[1] ?? 0n);
    if (lane.reuse && size <= MAX_KEPT_OUT) {
      let grown = lane.out.length;
      while (grown < size) grown *= 2;
      lane.out = new Uint8Array(grown);
      reply = lane.out;
    } else {
      reply = new Uint8Array(size);
    }
    status = core().bpfx_fetch(token, reply, BigInt(reply.length));
    if (status === -1) throw protocolError(op, `fetching ${size} bytes failed`);
  }
  if (status === -1) {
    if (size > 0 && size <= reply.length) {
      const value = decode(op, reply.subarray(0, size));
      throw fromCoreObject(value as CoreErrorObject);
    }
    throw protocolError(op, "the request was refused");
  }
  if (size > reply.length) throw protocolError(op, "the reply overflowed");
  const value = decode(op, reply.subarray(0, size));
  if (status === 1) throw fromCoreObject(value as CoreErrorObject);
  if (status !== 0) throw protocolError(op, `unknown status ${status}`);
  return value as T;
}

/**
 * Runs `op` in the core with `params` and returns its JSON reply.
 * Throws the error class matching the core's error object on failure.
 */
export function call<T>(op: string, params: Record<string, unknown> = {}): T {
  const length = encode(JSON.stringify({ op, ...params }));
  const status = core().bpfx_call(
    request,
    BigInt(length),
    syncLane.out,
    BigInt(syncLane.out.length),
    syncLane.meta,
  );
  return finish<T>(op, status, syncLane);
}

/**
 * Runs `op` like {@linkcode call}, but on Deno's blocking thread pool: the
 * event loop runs on while the core works. For rare, long operations; each
 * call allocates its own buffers.
 */
export async function callNonblocking<T>(
  op: string,
  params: Record<string, unknown> = {},
): Promise<T> {
  const req = encoder.encode(JSON.stringify({ op, ...params }));
  const lane: Lane & { readonly req: Uint8Array } = {
    req,
    out: new Uint8Array(INITIAL_OUT),
    meta: new BigUint64Array(2),
    reuse: false,
  };
  const status = await core().bpfx_call_nonblocking(
    lane.req,
    BigInt(lane.req.length),
    lane.out,
    BigInt(lane.out.length),
    lane.meta,
  );
  // `lane` (and so every buffer the core wrote to) is referenced until here.
  return finish<T>(op, status, lane);
}
