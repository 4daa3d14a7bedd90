/**
 * Running a loaded program once with a context of your own
 * (`BPF_PROG_TEST_RUN`), as for a `SEC("syscall")` program.
 *
 * @module
 */

import { call } from "./_call.ts";
import { handleOf, type Program } from "./handles.ts";

/** Options for {@linkcode runProgram}. */
export interface RunOptions {
  /** The context the program gets, as bytes (at most 65535). */
  ctx?: Uint8Array;
  /**
   * Or a file whose bytes are the context, read by the core (so it needs no
   * `--allow-read`). Ignored when `ctx` is given.
   */
  ctxFile?: string;
}

/** What one run of a program returned. */
export interface RunResult {
  /** The kernel's program id. */
  readonly id: number;
  /** The program's full name. */
  readonly name: string;
  /** The program type, such as `syscall`. */
  readonly type: string;
  /** The program's return value, as the kernel gives it (`u32`). */
  readonly retval: number;
  /**
   * The context after the run: a syscall program can write to it. `null`
   * for other program types, or when no context was given.
   */
  readonly ctx: Uint8Array | null;
  /** How long the run took, in nanoseconds, when the kernel says. */
  readonly durationNs: number;
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function unhex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

/**
 * Runs the program pinned at `target` (or held by a {@linkcode Program})
 * once, with `options.ctx` as its context, and returns its return value and,
 * for a syscall program, the context as the program left it.
 *
 * Needs `--allow-ffi`, and root or CAP_BPF plus CAP_SYS_ADMIN. The kernel
 * test-runs only some program types; syscall programs take a context only.
 *
 * @example Running a syscall program with two u64 arguments
 * ```ts ignore
 * import { runProgram } from "./mod.ts";
 * const ctx = new Uint8Array(24);
 * new DataView(ctx.buffer).setBigUint64(0, 7n, true);
 * const r = runProgram("/sys/fs/bpf/app/write_ctx_to_map", { ctx });
 * console.log(r.retval, r.ctx);
 * ```
 *
 * @throws {BpfError} with `op` `BPF_PROG_TEST_RUN` when the kernel refuses
 * the run.
 */
export function runProgram(
  target: string | Program,
  options: RunOptions = {},
): RunResult {
  const params: Record<string, unknown> = typeof target === "string"
    ? { path: target }
    : { handle: handleOf(target, "run") };
  if (options.ctx === undefined && options.ctxFile !== undefined) {
    params.ctxFile = options.ctxFile;
  } else {
    params.ctx = hex(options.ctx ?? new Uint8Array());
  }
  const r = call<Omit<RunResult, "ctx"> & { ctx: string | null }>(
    "run",
    params,
  );
  return { ...r, ctx: r.ctx === null ? null : unhex(r.ctx) };
}
