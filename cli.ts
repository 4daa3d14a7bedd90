/**
 * The `bpfx` command line: a typed command table ({@linkcode COMMANDS}) over
 * `mod.ts`, split into options and arguments by `cli/_table.ts`'s tokenizer.
 * This module holds {@linkcode main} and assembles the table from the entries
 * in `cli/commands.ts`, `cli/views_commands.ts` and `cli/maps/mod.ts`; the
 * handlers are in a file per command group (`cli/pins.ts`, `cli/maps/`, ...).
 *
 * {@linkcode main} runs it in-process and returns the exit code: 0 on
 * success, 1 on a runtime failure (or a failed `doctor` check), 2 on a usage
 * error. Each command's module is imported only when the command runs, so
 * `--help`, `--version` and usage errors never load the core library, and
 * start-up pays for no npm package.
 *
 * @example Running it
 * ```sh
 * deno run --allow-ffi --allow-env=BPFX_LIB cli.ts ls /sys/fs/bpf --json
 * ```
 *
 * @module
 */

import {
  type Command,
  find,
  helpDocument,
  helpText,
  parseLeaf,
  UsageError,
} from "./cli/_table.ts";
import {
  completionCommands,
  DOCTOR,
  EXPOSE,
  EXPOSURES,
  INSPECT,
  LOAD,
  LS,
  RUN,
  SHOW,
  UNEXPOSE,
  UNPIN,
  WATCH,
} from "./cli/commands.ts";
import { MAP } from "./cli/maps/mod.ts";
import { APPLY, PLAN } from "./cli/plan.ts";
import { denoIo, fail, type Io, printJson, withJson } from "./cli/output.ts";
import { ATTACH, CAT, DETACH, LINKS, VIEW } from "./cli/views_commands.ts";

export type { Io } from "./cli/output.ts";

/** Options for {@linkcode main}. */
export interface MainOptions {
  /** Where to write; the process's stdout and stderr by default. */
  io?: Io;
  /**
   * Stops a running `bpfx watch` when aborted, as SIGINT and SIGTERM do
   * (for running it in-process).
   */
  signal?: AbortSignal;
}

/** The program's own entry in help. */
const PROGRAM = {
  name: "bpfx",
  summary:
    "Script Linux BPF pin workflows: load, list, show and remove pins on bpffs.",
  help: `Examples:
  bpfx doctor
  bpfx inspect prog.o
  bpfx load prog.o --pin /sys/fs/bpf/prog
  bpfx ls /sys/fs/bpf/prog --json
  bpfx unpin -r /sys/fs/bpf/prog`,
};

/** The commands, in the order help lists them. */
export const COMMANDS: readonly Command[] = [
  DOCTOR,
  INSPECT,
  LOAD,
  RUN,
  LS,
  SHOW,
  UNPIN,
  VIEW,
  CAT,
  ATTACH,
  DETACH,
  LINKS,
  EXPOSE,
  UNEXPOSE,
  EXPOSURES,
  WATCH,
  MAP,
  PLAN,
  APPLY,
  ...completionCommands(() => ({ program: PROGRAM, commands: COMMANDS })),
];

/** The words that ask for help, before any `--`. */
function asksHelp(words: readonly string[]): boolean {
  for (const word of words) {
    if (word === "--") return false;
    if (word === "-h" || word === "--help") return true;
  }
  return false;
}

/** The words that ask for JSON, before any `--`. */
function asksJson(words: readonly string[]): boolean {
  for (const word of words) {
    if (word === "--") return false;
    if (["--json", "-j", "--pretty", "-p"].includes(word)) return true;
  }
  return false;
}

function printHelp(
  io: Io,
  path: readonly string[],
  json: boolean,
  to: "out" | "err" = "out",
): void {
  if (json) {
    printJson(io, helpDocument(PROGRAM, COMMANDS, path));
    return;
  }
  io[to](helpText(PROGRAM, COMMANDS, path, io.columns ?? 80));
}

/**
 * Reports a usage error: the command's help and `error: ...` on standard
 * error, and with `--json` the error document on standard output. Exit 2.
 */
function usage(io: Io, error: UsageError, json: boolean): number {
  io.err(
    `${
      helpText(PROGRAM, COMMANDS, error.path, io.columns ?? 80)
    }\nerror: ${error.message}\n`,
  );
  if (json) {
    const name = ["bpfx", ...error.path].join(" ");
    printJson(io, {
      error: {
        kind: "invalid",
        op: "usage",
        errno: 0,
        message: error.message,
        path: null,
        log: null,
        feature: null,
        hint: `see \`${name} --help\``,
        causes: [],
      },
    });
  }
  return 2;
}

/** Resolves `bpfx [group...] command` from the front of `args`. */
function resolve(
  args: readonly string[],
): { path: string[]; command: Command | undefined; rest: string[] } {
  const path: string[] = [];
  let commands = COMMANDS;
  let command: Command | undefined;
  let at = 0;
  while (at < args.length) {
    const word = args[at]!;
    if (word.startsWith("-")) break;
    const next = commands.find((c) => c.name === word);
    if (next === undefined) {
      throw new UsageError(path, `unknown command '${word}'`);
    }
    path.push(word);
    command = next;
    at++;
    if (next.kind === "leaf") break;
    commands = next.commands;
  }
  return { path, command, rest: args.slice(at) };
}

/**
 * Handles the words of the root or of a group (no leaf named). The version is
 * imported only to print it, so that no other command's start loads it.
 */
async function groupWords(
  io: Io,
  path: readonly string[],
  rest: readonly string[],
  json: boolean,
): Promise<number> {
  if (asksHelp(rest)) {
    printHelp(io, path, json);
    return 0;
  }
  if (
    path.length === 0 && (rest.includes("-V") || rest.includes("--version"))
  ) {
    const { VERSION } = await import("./src/_version.ts");
    if (json) printJson(io, { name: "bpfx", version: VERSION });
    else io.out(`${VERSION}\n`);
    return 0;
  }
  const option = rest.find((w) =>
    w.startsWith("-") && !["--json", "-j", "--pretty", "-p"].includes(w)
  );
  if (option !== undefined) {
    return usage(io, new UsageError(path, `unknown option '${option}'`), json);
  }
  return usage(io, new UsageError(path, "missing command"), json);
}

/**
 * Runs the bpfx command line with `args` (without the program name) and
 * returns the exit code: 0 success, 1 runtime failure, 2 usage error.
 * Never exits the process.
 */
export async function main(
  args: string[],
  options: MainOptions = {},
): Promise<number> {
  const json = asksJson(args);
  const pretty = args.includes("--pretty") || args.includes("-p");
  const io = withJson(options.io ?? denoIo(), { pretty });
  try {
    if (args[0] === "help") {
      const path = args.slice(1).filter((w) => !w.startsWith("-"));
      const command = find(COMMANDS, path);
      if (path.length && (command === undefined || command.hidden)) {
        throw new UsageError([], `unknown command '${path.join(" ")}'`);
      }
      printHelp(io, path, json);
      return 0;
    }
    const { path, command, rest } = resolve(args);
    if (command === undefined || command.kind === "group") {
      return await groupWords(io, path, rest, json);
    }
    if (asksHelp(rest)) {
      printHelp(io, path, json);
      return 0;
    }
    // Only a command to run needs the tokenizer (help and --version do not).
    const parsed = parseLeaf(path, command, rest);
    if (parsed.opts.help === true) {
      printHelp(io, path, json);
      return 0;
    }
    try {
      return await command.run({
        io,
        args: parsed.args as never,
        opts: parsed.opts as never,
        signal: options.signal,
      });
    } catch (error) {
      // A check across options that the table cannot state is a usage error.
      if (error instanceof UsageError) throw error;
      const { isBpfError } = await import("./src/errors.ts");
      return fail(io, error, parsed.opts.json === true, isBpfError);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return usage(io, error, json);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
