/**
 * Desired state as code: a host's whole bpfx set-up in one file or value
 * ({@linkcode DesiredState}), {@linkcode plan} to compare it with the host,
 * and {@linkcode apply} to make the host match. Reading a file is
 * `readDesired()` of `./file.ts` (the package's `./desired` export), a
 * module of its own: only it imports the YAML and JSON Schema packages, so
 * importing `mod.ts` fetches and loads neither.
 *
 * @module
 */

export type * from "./types.ts";
export type { DesiredChecks, DesiredProgramRef } from "./check.ts";
export { DesiredError } from "./check.ts";
export { apply } from "./apply.ts";
export { type OwnedEntry, plan, type PlanOptions } from "./plan.ts";
