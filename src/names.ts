/**
 * Names as bytes. A cgroup's or a file's name is whatever bytes its creator
 * chose, not always UTF-8. The core carries the bytes, and in its JSON
 * writes each byte that is not part of valid UTF-8 as a lone low surrogate
 * `\udcXX` (`XX` the byte), as Python's `surrogateescape` does: the cgroup
 * `job\xff` comes as the string `"job\udcff"`, which is not the name
 * `job\u{FFFD}`. {@linkcode nameBytes} gives the bytes back, and
 * {@linkcode nameText} the name as text, `\xff` written out.
 *
 * @module
 */

const ENCODER = new TextEncoder();

/**
 * The bytes of `name`, a name or path as bpfx's reports give it: each lone
 * surrogate `\udc80`–`\udcff` is the byte it escapes, the rest UTF-8.
 *
 * @example
 * ```ts
 * import { nameBytes } from "./names.ts";
 * nameBytes("job\udcff"); // Uint8Array [ 106, 111, 98, 255 ]
 * ```
 */
export function nameBytes(name: string): Uint8Array {
  if (!LONE.test(name)) return ENCODER.encode(name);
  const out: number[] = [];
  for (const part of name.split(LONE_SPLIT)) {
    const c = part.length === 1 ? part.charCodeAt(0) : 0;
    if (c >= 0xdc80 && c <= 0xdcff) out.push(c - 0xdc00);
    else out.push(...ENCODER.encode(part));
  }
  return new Uint8Array(out);
}

/**
 * `name` as text: each byte a report escaped (a lone surrogate
 * `\udc80`–`\udcff`) written `\xNN`.
 */
export function nameText(name: string): string {
  return name.replace(
    LONE_ALL,
    (ch) => `\\x${(ch.charCodeAt(0) - 0xdc00).toString(16)}`,
  );
}

// A lone low surrogate that escapes a byte (the `u` flag keeps a pair's
// half out).
const LONE = /[\udc80-\udcff]/u;
const LONE_ALL = /[\udc80-\udcff]/gu;
const LONE_SPLIT = /([\udc80-\udcff])/u;
