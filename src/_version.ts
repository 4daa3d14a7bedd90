/**
 * The version of this module, in a file of its own that imports nothing, so
 * that `bpfx --version` loads neither the API nor the core library.
 *
 * @module
 */

/** The version of this module. */
export const VERSION = "0.1.0";
