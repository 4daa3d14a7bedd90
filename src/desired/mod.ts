/**
 * Desired state as code: a host's whole bpfx set-up in one file or value
 * ({@linkcode DesiredState}), {@linkcode plan} to compare it with the host,
 * {@linkcode apply} to make the host match, and {@linkcode readDesired} to
 * read and check a file. The YAML and JSON Schema packages are loaded by
 * {@linkcode readDesired} only, when it is first called.
 *
 * @module
 */

import type { DesiredFile } from "./file.ts";

export type * from "./types.ts";
export type { DesiredFile } from "./file.ts";
export type { DesiredChecks, DesiredProgramRef } from "./check.ts";
export { apply, type OwnedEntry, plan, type PlanOptions } from "./engine.ts";

/**
 * Reads the desired-state file at `path` (YAML, or JSON) through the core,
 * checks its shape against the package's JSON Schema
 * (`src/desired/schema.json`) and its entries against the object files,
 * and returns it with the checks' results, to hand to {@linkcode plan} or
 * {@linkcode apply} as `checked`. Relative object paths are taken from the
 * file's directory.
 *
 * Needs `--allow-ffi`, and `--allow-env=LOG_TOKENS,LOG_STREAM` (the `yaml`
 * package reads them).
 *
 * @throws {BpfError} of kind `invalid` (op `validate`) whose message starts
 * `FILE:LINE:COLUMN: ENTRY:`, for text that is not YAML, an unknown key, a
 * value of the wrong type, a name or pin path used twice, an object file
 * that is missing or not ELF, or a program the object lacks or of the
 * wrong type for its entry.
 */
export async function readDesired(path: string): Promise<DesiredFile> {
  const { readDesired: read } = await import("./file.ts");
  return read(path);
}
