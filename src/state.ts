/**
 * The state directory: where the manifest (`manifest.json`: exposures and
 * attach rules), its lock and the watcher's lock live. One rule finds it,
 * everywhere: {@linkcode stateDir}.
 *
 * @module
 */

import { call } from "./_call.ts";

/** The state directory used when none is given and `BPFX_STATE` is unset. */
export const DEFAULT_STATE = "/run/bpfx";

/** Options naming the state directory. */
export interface StateOptions {
  /**
   * The state directory; when left out, `BPFX_STATE`, else
   * {@linkcode DEFAULT_STATE}.
   */
  state?: string;
}

/**
 * The state directory: `options.state` if given, else the environment
 * variable `BPFX_STATE` if set and not empty, else `/run/bpfx`. The
 * environment is read only when `options.state` is left out.
 *
 * Needs `--allow-env=BPFX_STATE` to honour the variable; without that
 * permission it counts as unset (as `BPFX_LIB` does).
 *
 * @example
 * ```ts ignore
 * import { stateDir } from "./mod.ts";
 * console.log(stateDir()); // "/run/bpfx", or $BPFX_STATE
 * console.log(stateDir({ state: "/tmp/s" })); // "/tmp/s"
 * ```
 */
export function stateDir(options: StateOptions = {}): string {
  if (options.state !== undefined) return options.state;
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("BPFX_STATE");
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
  }
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_STATE;
}

/** The state directory's lock, held by {@linkcode holdState} until released. */
export interface StateHold extends Disposable {
  /** The state directory held. */
  readonly state: string;
  /** Gives the hold back (a second call does nothing). */
  release(): void;
}

/**
 * Takes the state directory's lock and keeps it until `release()` (or the
 * end of a `using` block): every call of this process that takes the lock
 * (attach, detach, expose, the manifest's updates) shares it meanwhile,
 * and every other process, the watcher's included, waits. `apply()` holds
 * it for its whole run. A crash releases it with the process. Holds nest.
 * A `watch()` of that directory opened meanwhile in this process is refused
 * (kind `busy`): its first reconcile would wait for the hold.
 *
 * Needs `--allow-ffi`, and root.
 */
export function holdState(options: StateOptions = {}): StateHold {
  const state = stateDir(options);
  call("state_hold", { state });
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    call("state_release", { state });
  };
  return { state, release, [Symbol.dispose]: release };
}
