/**
 * Codecs: the {@linkcode Codec} interface, a caller's codec as a node
 * ({@linkcode codecNode}), and a codec for a BTF type
 * ({@linkcode btfCodec}).
 *
 * @module
 */

import { BpfError } from "../errors.ts";
import type { BtfType } from "./btf.ts";
import { compileNode } from "./compile.ts";
import { EncodeProblem, type Node } from "./_node.ts";

/**
 * How keys or values of a map are turned into bytes and back. bpfx builds
 * one from the map's BTF; pass your own to {@linkcode openMap} for maps
 * without BTF (or to read them your way).
 */
export interface Codec<T> {
  /** The encoded size in bytes: the map's key size, or its value size. */
  readonly size: number;
  /**
   * Writes `value` into `out[0 .. size]`. `out` is reused from call to
   * call: write every byte (padding included).
   */
  encode(value: T, out: Uint8Array): void;
  /**
   * Reads a value from `bytes[0 .. size]`. `bytes` is reused after the call
   * returns: copy what the result keeps.
   */
  decode(bytes: Uint8Array): T;
}

/** A caller's codec as a node. */
export function codecNode(codec: Codec<unknown>, label = "codec"): Node {
  const size = codec.size;
  return {
    size,
    label,
    holes: false,
    enc(v, _dv, u8, off) {
      codec.encode(
        v,
        off === 0 && u8.length === size ? u8 : u8.subarray(off, off + size),
      );
    },
    dec(_dv, u8, off) {
      return codec.decode(
        off === 0 && u8.length === size ? u8 : u8.subarray(off, off + size),
      );
    },
  };
}

/** Options for {@linkcode btfCodec}. */
export interface BtfCodecOptions {
  /**
   * Also take integers written as strings (`"42"`, `"0x2a"`, `"-1"`), and
   * numbers for enums: for values read from a command line.
   */
  lenient?: boolean;
  /** What the codec encodes, for messages: `key of map "flows"`. */
  what?: string;
}

/**
 * A {@linkcode Codec} for BTF type `type` (as {@linkcode BpfMap.btf}
 * describes it). `encode` throws a {@linkcode BpfError} of kind `invalid`
 * naming the field and the type expected.
 */
export function btfCodec(
  type: BtfType,
  options: BtfCodecOptions = {},
): Codec<unknown> {
  const node = compileNode(type, { lenient: options.lenient ?? false });
  const what = options.what ?? (type.name ? `a ${node.label}` : "a value");
  const size = node.size;
  return {
    size,
    encode(value, out) {
      if (out.length < size) {
        throw new BpfError(
          `Cannot encode ${what}: the buffer has ${out.length} bytes, ${size} are needed`,
          { kind: "invalid", op: "encode", errno: 22 },
        );
      }
      const dv = new DataView(out.buffer, out.byteOffset, size);
      if (node.holes) out.fill(0, 0, size);
      try {
        node.enc(value, dv, out, 0);
      } catch (e) {
        if (!(e instanceof EncodeProblem)) throw e;
        throw new BpfError(`Cannot encode ${what}: ${e.describe()}`, {
          kind: "invalid",
          op: "encode",
          errno: 22,
        });
      }
    },
    decode(bytes) {
      return node.dec(
        new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        bytes,
        0,
      );
    },
  };
}
