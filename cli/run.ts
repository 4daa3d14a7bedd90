/**
 * `bpfx run`: runs a pinned program once with a context.
 *
 * @module
 */

import { type RunOptions, runProgram } from "../src/run.ts";
import { type Io, pairs, printJson } from "./output.ts";

/** Flags of `bpfx run`. */
export interface RunFlags {
  /** Hex digits, or `@FILE`. */
  ctx?: string | undefined;
  json?: true | undefined;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function options(ctx: string | undefined): RunOptions {
  if (ctx === undefined) return {};
  // The core reads the file: the CLI runs without --allow-read.
  if (ctx.startsWith("@")) return { ctxFile: ctx.slice(1) };
  const out = new Uint8Array(ctx.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(ctx.slice(2 * i, 2 * i + 2), 16);
  }
  return { ctx: out };
}

/** `bpfx run PIN [--ctx HEX|@FILE]`. */
export function runCommand(io: Io, pin: string, flags: RunFlags): number {
  const r = runProgram(pin, options(flags.ctx));
  const ctx = r.ctx === null ? null : hex(r.ctx);
  if (flags.json) {
    printJson(io, { ...r, ctx });
    return 0;
  }
  const rows: [string, string][] = [
    ["program", `${r.name} (id ${r.id}, ${r.type})`],
    ["retval", `${r.retval} (0x${r.retval.toString(16)})`],
  ];
  if (ctx !== null) rows.push(["ctx", ctx === "" ? "-" : ctx]);
  io.out(pairs(rows));
  return 0;
}
