/**
 * Encoding and decoding map keys and values: from a map's BTF (compiled once
 * per map into closures over a `DataView`, no reflection per call), raw
 * bytes, the `{prefixLen, data}` keys of LPM tries without BTF, and a
 * caller's own {@linkcode Codec}.
 *
 * BTF gives: integers of 64 bits (and more) as bigint and smaller ones as
 * number, `_Bool` as boolean, structs and unions as objects (anonymous
 * members flattened into their parent), `char[N]` as a string, other
 * arrays as arrays, enums by name (a value without a name as its number),
 * bitfields as numbers, floats as numbers and pointers as bigint.
 *
 * Values are read and written in the host's byte order (that of BTF and of
 * the kernel's maps); bitfields are laid out as on little-endian hosts.
 *
 * @module
 */

export type {
  BtfArray,
  BtfEnum,
  BtfInt,
  BtfMember,
  BtfStruct,
  BtfType,
} from "./btf.ts";
export {
  type CompileOptions,
  copyBytes,
  decodeEach,
  encodeEach,
  EncodeProblem,
  LE,
  type Node,
  rawBytesNode,
  show,
} from "./_node.ts";
export { compileNode } from "./compile.ts";
export { type LpmKey, lpmNode } from "./lpm_trie.ts";
export {
  btfCodec,
  type BtfCodecOptions,
  type Codec,
  codecNode,
} from "./codecs.ts";
