/**
 * The `bpfx` command line: a typed command table ({@linkcode COMMANDS}) over
 * `mod.ts`, split into options and arguments by `cli/_tokenize.ts`.
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

import { type Command, find, UsageError } from "./cli/_table.ts";
import { helpDocument, helpText } from "./cli/_help.ts";
import { didYouMean } from "./cli/_suggest.ts";
import { parseLeaf } from "./cli/_tokenize.ts";
import {
  completionCommands,
  DOCTOR,
  EXPOSE,
  EXPOSURES,
  INSPECT,
  LOAD,
  LS,
  RUN,
  SERVE,
  SHOW,
  UNEXPOSE,
  UNPIN,
  WATCH,
} from "./cli/commands.ts";
import { MAP } from "./cli/maps/mod.ts";
import { APPLY, PLAN } from "./cli/plan.ts";
import { denoIo, fail, type Io, printJson, withJson } from "./cli/output.ts";
import { ATTACH, CAT, RULE, VIEW } from "./cli/views_commands.ts";

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
  RULE,
  EXPOSE,
  UNEXPOSE,
  EXPOSURES,
  WATCH,
  SERVE,
  MAP,
  PLAN,
  APPLY,
  ...completionCommands(() => ({ program: PROGRAM, commands: COMMANDS })),
];

/**
 * The old spellings kept for one release: `detach` is `rule rm`, `links` is
 * `rule ls`, and `attach` with `--cgroup-root` is `rule add`. Each prints one
 * line on standard error saying what to type instead, then runs the new one.
 */
const DEPRECATED: readonly {
  readonly old: string;
  readonly flag?: string;
  readonly now: readonly string[];
}[] = [
  { old: "detach", now: ["rule", "rm"] },
  { old: "links", now: ["rule", "ls"] },
  { old: "attach", flag: "--cgroup-root", now: ["rule", "add"] },
];

/** Whether `words` give the option `--name` (before any `--`). */
function gives(words: readonly string[], name: string): boolean {
  for (const word of words) {
    if (word === "--") return false;
    if (word === name || word.startsWith(`${name}=`)) return true;
  }
  return false;
}

/** `words` with a deprecated spelling at the front replaced, and said so. */
function undeprecate(io: Io, words: readonly string[]): readonly string[] {
  const [first, ...rest] = words;
  for (const d of DEPRECATED) {
    if (first !== d.old) continue;
    if (d.flag !== undefined && !gives(rest, d.flag)) continue;
    if (d.flag !== undefined && gives(rest, "--to")) {
      throw new UsageError(
        [d.old],
        `option '--to <target>' cannot be used with option '${d.flag} <cgroup>' (a rule over a cgroup subtree is 'bpfx ${
          d.now.join(" ")
        }')`,
      );
    }
    const was = d.flag === undefined ? d.old : `${d.old} ${d.flag}`;
    io.err(
      `warning: 'bpfx ${was}' is deprecated and goes in the next release: type 'bpfx ${
        d.now.join(" ")
      }'\n`,
    );
    return [...d.now, ...rest];
  }
  return words;
}

/** Whether `word` is `-j`, `-p`, `--json`, `--pretty` or a group of them. */
function isOutputFlag(word: string): boolean {
  return word === "--json" || word === "--pretty" || /^-[jp]+$/.test(word);
}

/**
 * `-j`, `-p`, `--json` and `--pretty` before the command (`bpfx -j ls`, as
 * `bpftool -j prog show`): taken off the front, to be given to the command.
 */
function leadingFlags(
  args: readonly string[],
): { flags: string[]; words: readonly string[] } {
  let at = 0;
  while (at < args.length && isOutputFlag(args[at]!)) at++;
  return { flags: args.slice(0, at), words: args.slice(at) };
}

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
    if (isOutputFlag(word)) return true;
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
 * Reports a usage error: `error: ...` and one line that points to the
 * command's `--help` on standard error (as git and cliffy do, not the whole
 * help), and with `--json` the error document on standard output. Exit 2.
 */
function usage(io: Io, error: UsageError, json: boolean): number {
  const name = ["bpfx", ...error.path].join(" ");
  io.err(
    `error: ${error.message}\nTry '${name} --help' for more information.\n`,
  );
  if (json) {
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

/** The names a mistyped command could have meant, among `commands`. */
function names(commands: readonly Command[], root: boolean): string[] {
  const shown = commands.filter((c) => !c.hidden).map((c) => c.name);
  return root ? [...shown, "help"] : shown;
}

/** `unknown command 'atach'; did you mean 'attach'?`. */
function unknownCommand(
  path: readonly string[],
  word: string,
  commands: readonly Command[],
): UsageError {
  return new UsageError(
    path,
    `unknown command '${word}'${
      didYouMean(word, names(commands, path.length === 0))
    }`,
  );
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
    if (next === undefined) throw unknownCommand(path, word, commands);
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
    const known = path.length === 0
      ? ["--version", "--json", "--pretty", "--help"]
      : ["--json", "--pretty", "--help"];
    const near = option.startsWith("--") ? didYouMean(option, known) : "";
    return usage(
      io,
      new UsageError(path, `unknown option '${option}'${near}`),
      json,
    );
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
  const pretty = args.includes("--pretty") ||
    args.some((w) => /^-j*pj*$/.test(w));
  const io = withJson(options.io ?? denoIo(), { pretty });
  try {
    const { flags, words } = leadingFlags(args);
    if (words[0] === "help") {
      const path = undeprecate(io, words.slice(1)).filter((w) =>
        !w.startsWith("-")
      );
      const command = find(COMMANDS, path);
      if (path.length && (command === undefined || command.hidden)) {
        // Named by the first word that is no command of its group.
        let commands = COMMANDS;
        let at = 0;
        for (; at < path.length; at++) {
          const next = commands.find((c) => c.name === path[at]);
          if (next === undefined || next.hidden) break;
          commands = next.kind === "group" ? next.commands : [];
        }
        throw unknownCommand(
          path.slice(0, at),
          path.slice(at).join(" "),
          commands,
        );
      }
      printHelp(io, path, json);
      return 0;
    }
    const resolved = resolve(undeprecate(io, words));
    const { path, command } = resolved;
    const rest = [...flags, ...resolved.rest];
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
      // Imported by URL, the core is downloaded now (nothing to do else).
      const { ready } = await import("./src/doctor.ts");
      await ready();
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
