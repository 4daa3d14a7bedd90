/**
 * Versions of this module and of the core library ({@linkcode version}).
 *
 * @module
 */

import { call } from "./_call.ts";

export { VERSION } from "./_version.ts";

/** The versions reported by the core library. */
export interface VersionInfo {
  /** The core's version, such as `0.1.0`. */
  readonly version: string;
  /** The ABI version the core speaks. */
  readonly abi: number;
  /** The aya version the core is built with. */
  readonly aya: string;
}

/**
 * The versions of the core library (loading it if needed).
 *
 * Needs `--allow-ffi`; no privileges.
 */
export function version(): VersionInfo {
  return call<VersionInfo>("version");
}
