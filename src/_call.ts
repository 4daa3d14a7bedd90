/**
 * The control lane: one JSON request in, one JSON reply out (docs/ABI.md).
 *
 * The request, reply and meta buffers are allocated once and reused; the
 * reply buffer grows when a reply does not fit.
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

let request = new Uint8Array(4096);
let out = new Uint8Array(INITIAL_OUT);
/** `out_meta`: [reply length, token]. */
const meta = new BigUint64Array(2);

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
 * Runs `op` in the core with `params` and returns its JSON reply.
 * Throws the error class matching the core's error object on failure.
 */
export function call<T>(op: string, params: Record<string, unknown> = {}): T {
  const lib = core();
  const length = encode(JSON.stringify({ op, ...params }));
  let status = lib.bpfx_call(
    request,
    BigInt(length),
    out,
    BigInt(out.length),
    meta,
  );
  const size = Number(meta[0] ?? 0n);
  let reply = out;
  if (status === 2) {
    const token = Number(meta[1] ?? 0n);
    if (size <= MAX_KEPT_OUT) {
      let grown = out.length;
      while (grown < size) grown *= 2;
      out = new Uint8Array(grown);
      reply = out;
    } else {
      reply = new Uint8Array(size);
    }
    status = lib.bpfx_fetch(token, reply, BigInt(reply.length));
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
