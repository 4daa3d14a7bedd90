/**
 * What every kind of type compiles to: the {@linkcode Node} (an encoder and
 * a decoder at an offset of a buffer), the {@linkcode EncodeProblem} an
 * encoder throws, how values are shown in messages, the arena that decoded
 * bytes are sliced from, lenient integers, and raw bytes.
 *
 * @module
 */

/** Host byte order: true on little-endian machines. */
export const LE: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A value that does not fit its type: where, what was expected, what came. */
export class EncodeProblem extends Error {
  /** Field names and `[index]`es from the outside in. */
  readonly path: string[] = [];
  constructor(readonly expected: string, readonly got: unknown) {
    super(`expected ${expected}, got ${show(got)}`);
  }

  /** The problem as a message fragment: `field "a.b": expected ..., got ...`. */
  describe(): string {
    let field = "";
    for (const part of this.path) {
      field += part.startsWith("[") || field === "" ? part : `.${part}`;
    }
    const where = field === "" ? "" : `field "${field}": `;
    return `${where}expected ${this.expected}, got ${show(this.got)}`;
  }
}

/** A value as a message shows it: JSON-like, bigints with `n`, cut short. */
export function show(v: unknown): string {
  let text: string;
  if (v === undefined) return "undefined";
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return "a function";
  if (typeof v === "symbol") return String(v);
  if (v instanceof Uint8Array) return `a Uint8Array of ${v.length} bytes`;
  try {
    text = JSON.stringify(
      v,
      (_k, x) => typeof x === "bigint" ? `${x}n` : x,
    ) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One type, compiled: encoders and decoders at an offset of a buffer. */
export interface Node {
  readonly size: number;
  /** How messages name the type: `u32`, `struct flow_key`, `char[16]`. */
  readonly label: string;
  /** Whether an encoding may leave bytes unwritten (they must be zeroed). */
  readonly holes: boolean;
  /** Writes `v` at `off`; throws {@linkcode EncodeProblem}. */
  enc(v: unknown, dv: DataView, u8: Uint8Array, off: number): void;
  /** Reads the value at `off`. */
  dec(dv: DataView, u8: Uint8Array, off: number): unknown;
}

/** How nodes are compiled. */
export interface CompileOptions {
  /**
   * Also take integers written as strings (`"42"`, `"0x2a"`, `"-1"`), and
   * numbers for enums: for values read from a command line.
   */
  lenient?: boolean;
}

/**
 * Writes `values[0 .. len]` with `elem`, `stride` bytes apart from `off`
 * (an array's elements, a per-CPU map's values); an
 * {@linkcode EncodeProblem} gets the element's index in its path.
 */
export function encodeEach(
  elem: Node,
  values: ArrayLike<unknown>,
  len: number,
  stride: number,
  dv: DataView,
  u8: Uint8Array,
  off: number,
): void {
  let i = 0;
  try {
    for (; i < len; i++) elem.enc(values[i], dv, u8, off + i * stride);
  } catch (e) {
    if (e instanceof EncodeProblem) e.path.unshift(`[${i}]`);
    throw e;
  }
}

/** Reads `len` values with `elem`, `stride` bytes apart from `off`. */
export function decodeEach(
  elem: Node,
  len: number,
  stride: number,
  dv: DataView,
  u8: Uint8Array,
  off: number,
): unknown[] {
  const out = new Array(len);
  for (let i = 0; i < len; i++) out[i] = elem.dec(dv, u8, off + i * stride);
  return out;
}

// Bytes that encoders return: one arena, sliced, so that small results do
// not each cost an ArrayBuffer (0.25 to 0.5 µs apiece in Deno).
const ARENA_SIZE = 64 * 1024;
let arena = new Uint8Array(ARENA_SIZE);
let arenaUsed = 0;

/** A copy of `u8[off .. off + len]` that owns its bytes. */
export function copyBytes(
  u8: Uint8Array,
  off: number,
  len: number,
): Uint8Array {
  if (len > ARENA_SIZE / 4) return u8.slice(off, off + len);
  if (arenaUsed + len > ARENA_SIZE) {
    arena = new Uint8Array(ARENA_SIZE);
    arenaUsed = 0;
  }
  const start = arenaUsed;
  arena.set(u8.subarray(off, off + len), start);
  arenaUsed = (start + len + 7) & ~7;
  return arena.subarray(start, start + len);
}

/** Integers as text: decimal, `0x`, `0o` or `0b`, with a sign. */

export const INT_TEXT = /^[-+]?(0x[0-9a-f]+|0o[0-7]+|0b[01]+|[0-9]+)$/i;

/** A lenient integer: a number, a bigint, or a string of an integer. */
export function lenientInt(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if (!INT_TEXT.test(t)) return v;
  const negative = t.startsWith("-");
  const digits = t.replace(/^[-+]/, "");
  const n = BigInt(digits);
  return negative ? -n : n;
}

/** Raw bytes of `size`: a `Uint8Array` (or an array of bytes) in, a `Uint8Array` out. */

export function rawNode(size: number, label = `${size} bytes`): Node {
  const expected = `a Uint8Array of ${size} bytes`;
  return {
    size,
    label,
    holes: false,
    enc(v, _dv, u8, off) {
      if (v instanceof Uint8Array) {
        if (v.length !== size) throw new EncodeProblem(expected, v);
        u8.set(v, off);
        return;
      }
      if (Array.isArray(v) && v.length === size) {
        for (let i = 0; i < size; i++) {
          const b = v[i];
          if (typeof b !== "number" || !(b >= 0 && b <= 255) || b % 1 !== 0) {
            throw new EncodeProblem(expected, v);
          }
          u8[off + i] = b;
        }
        return;
      }
      throw new EncodeProblem(expected, v);
    },
    dec(_dv, u8, off) {
      return copyBytes(u8, off, size);
    },
  };
}

/** Raw bytes of `size`: Uint8Array in and out. */
export function rawBytesNode(size: number): Node {
  return rawNode(size);
}
