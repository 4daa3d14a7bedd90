/**
 * Files read through the core (`file_read`), so that reading a
 * desired-state file or fingerprinting an object file needs no
 * `--allow-read`: a regular file of at most 16 MiB.
 *
 * @module
 */

import { call } from "../_call.ts";

/** The text of the file at `path` (UTF-8, invalid bytes replaced). */
export function readText(path: string): string {
  return call<{ text: string }>("file_read", { path, text: true }).text;
}

/** The sha256 of the file at `path`, in hex (at most 64 MiB). */
export function sha256(path: string): string {
  return call<{ sha256: string }>("file_read", { path, maxSize: 64 << 20 })
    .sha256;
}

/** The text of the file at `path` and the sha256 of its bytes, in one read. */
export function readHashed(path: string): { text: string; sha256: string } {
  return call<{ text: string; sha256: string }>("file_read", {
    path,
    text: true,
  });
}
