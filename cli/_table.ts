/**
 * The command table of the `bpfx` command line: typed options and arguments,
 * split into options and arguments by `_tokenize.ts` (the POSIX and GNU
 * conventions of `node:util`'s `parseArgs`, whose load alone costs about
 * 10 ms of a 25 ms start), help generated from the table by `_help.ts`, and
 * usage errors that name what was wrong.
 *
 * A command is either a leaf ({@linkcode leaf}: options, arguments and what
 * it runs) or a group of commands ({@linkcode group}). The option and
 * argument values a leaf's `run` receives are typed from its table entry:
 * `--pin-by-name-root <dir>` arrives as `opts.pinByNameRoot: string |
 * undefined`, a required option as `string`, an option with `choices` as
 * their union, one with `parse` as what it returns, and a boolean flag as
 * `true | undefined`.
 *
 * This module imports nothing, so help, `--version` and usage errors never
 * load the API, the core library or Node's modules.
 *
 * @module
 */

import type { Io } from "./output.ts";

/** An option of a command. The table key is its long name, without `--`. */
export interface OptionSpec {
  /** A flag (`--bind`) or an option with a value (`--pin <dir>`). */
  readonly type: "boolean" | "string";
  /** A one-letter alias (`r` for `-r`). */
  readonly short?: string;
  /** The value's placeholder in help, such as `<dir>`; `<value>` by default. */
  readonly value?: string;
  /** One line of help. */
  readonly help: string;
  /** Whether the option must be given (marked "required" in help). */
  readonly required?: boolean;
  /**
   * Long names of options that, given, make this one unneeded: the option
   * is required unless one of them is given (a command with two modes).
   */
  readonly requiredUnless?: readonly string[];
  /** The values the option accepts. */
  readonly choices?: readonly string[];
  /** Turns the text into the value; throws {@linkcode InvalidValue}. */
  readonly parse?: (text: string) => unknown;
  /** Long names of options this one cannot be used with. */
  readonly conflicts?: readonly string[];
  /** Long names of options this one needs. */
  readonly needs?: readonly string[];
}

/** A positional argument of a command. */
export interface ArgumentSpec {
  /** Its name in help (`obj`, `pin`). */
  readonly name: string;
  /** One line of help. */
  readonly help: string;
  /** May be left out. */
  readonly optional?: boolean;
  /** Takes every remaining word (the last argument only). */
  readonly variadic?: boolean;
  /** The value when left out (shown in help). */
  readonly default?: string;
  /** The values the argument accepts. */
  readonly choices?: readonly string[];
}

/** The options of a leaf, keyed by long name. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** `pin-by-name-root` as `pinByNameRoot`. */
export type Camel<S extends string> = S extends `${infer H}-${infer T}`
  ? `${H}${Capitalize<Camel<T>>}`
  : S;

/** The value one option gives `run`. */
export type OptionValue<S extends OptionSpec> = S extends { type: "boolean" }
  ? true
  : S extends { parse: (text: string) => infer R } ? R
  : S extends { choices: readonly (infer C)[] } ? C
  : string;

/** The option values a leaf's `run` receives. */
export type OptionValues<O extends OptionTable> =
  & {
    -readonly [K in keyof O & string as Camel<K>]: O[K] extends
      { required: true } ? OptionValue<O[K]>
      : OptionValue<O[K]> | undefined;
  }
  & {
    /** `--json` (or `-j`, or `-p`). */
    json: true | undefined;
    /** `-p`/`--pretty`: indented JSON. */
    pretty: true | undefined;
  };

/** The value one argument gives `run`. */
export type ArgumentValue<A extends ArgumentSpec> = A extends { variadic: true }
  ? string[]
  : A extends { choices: readonly (infer C)[] } ? C
  : A extends { default: string } ? string
  : A extends { optional: true } ? string | undefined
  : string;

/** The argument values a leaf's `run` receives, in order. */
export type ArgumentValues<A extends readonly ArgumentSpec[]> = {
  -readonly [I in keyof A]: ArgumentValue<A[I]>;
};

/** What a leaf's `run` gets. */
export interface Context<
  O extends OptionTable,
  A extends readonly ArgumentSpec[],
> {
  readonly io: Io;
  readonly args: ArgumentValues<A>;
  readonly opts: OptionValues<O>;
  /** Aborted by SIGINT or SIGTERM, or by the caller of `main()`. */
  readonly signal: AbortSignal | undefined;
}

/** A table entry for a command that runs. */
export interface LeafSpec<
  O extends OptionTable,
  A extends readonly ArgumentSpec[],
> {
  readonly name: string;
  /** One line, lower case, no final period. */
  readonly summary: string;
  /** Text after the options in `--help`. */
  readonly help?: string;
  readonly options: O;
  readonly args: A;
  /** What `--json` does for this command ("print JSON instead of text"). */
  readonly json?: string;
  /** Left out of help and of the command list. */
  readonly hidden?: boolean;
  /** Passes every word after the command to `run` as `args[0]` unparsed. */
  readonly raw?: boolean;
  /** Runs the command; returns the exit code. */
  run(context: Context<O, A>): Promise<number> | number;
}

/** A leaf after {@linkcode leaf}, its types erased. */
export interface Leaf {
  readonly kind: "leaf";
  readonly name: string;
  readonly summary: string;
  readonly help: string | undefined;
  readonly options: OptionTable;
  readonly args: readonly ArgumentSpec[];
  readonly json: string;
  readonly hidden: boolean;
  readonly raw: boolean;
  run(context: Context<OptionTable, readonly ArgumentSpec[]>): Promise<number>;
}

/** A group of commands (`bpfx map get`). */
export interface Group {
  readonly kind: "group";
  readonly name: string;
  readonly summary: string;
  readonly help: string | undefined;
  readonly commands: readonly Command[];
  readonly hidden: boolean;
}

/** One entry of the table. */
export type Command = Leaf | Group;

/** The flags every leaf has. */
export const COMMON: OptionTable = {
  json: { type: "boolean", short: "j", help: "print JSON instead of text" },
  pretty: { type: "boolean", short: "p", help: "print indented JSON" },
  help: { type: "boolean", short: "h", help: "print help" },
};

/** Makes a leaf of the table, typing `run`'s options and arguments. */
export function leaf<
  const O extends OptionTable,
  const A extends readonly ArgumentSpec[],
>(spec: LeafSpec<O, A>): Leaf {
  for (const name of Object.keys(spec.options)) {
    if (name in COMMON) throw new Error(`"--${name}" is a common flag`);
  }
  return {
    kind: "leaf",
    name: spec.name,
    summary: spec.summary,
    help: spec.help,
    options: spec.options,
    args: spec.args,
    json: spec.json ?? COMMON.json!.help,
    hidden: spec.hidden ?? false,
    raw: spec.raw ?? false,
    run: async (context) => await spec.run(context as unknown as Context<O, A>),
  };
}

/** Makes a group of the table. */
export function group(
  spec: {
    name: string;
    summary: string;
    help?: string;
    commands: readonly Command[];
    hidden?: boolean;
  },
): Group {
  return {
    kind: "group",
    name: spec.name,
    summary: spec.summary,
    help: spec.help,
    commands: spec.commands,
    hidden: spec.hidden ?? false,
  };
}

/** Thrown by an option's `parse`: what the value should have been. */
export class InvalidValue extends Error {}

/** A usage error: printed after the command's help, exit code 2. */
export class UsageError extends Error {
  constructor(
    /** The command path, such as `["map", "get"]`. */
    readonly path: readonly string[],
    message: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** `--pin <dir>`, `-r, --recursive`. */
export function optionLabel(name: string, spec: OptionSpec): string {
  const long = `--${name}${
    spec.type === "string" ? ` ${spec.value ?? "<value>"}` : ""
  }`;
  return spec.short === undefined ? long : `-${spec.short}, ${long}`;
}

function argumentLabel(a: ArgumentSpec): string {
  const name = a.variadic ? `${a.name}...` : a.name;
  return a.optional || a.default !== undefined || a.variadic
    ? `[${name}]`
    : `<${name}>`;
}

/** `load [options] <obj>`. */
export function usageLine(command: Command): string {
  if (command.kind === "group") return `${command.name} <command>`;
  const args = command.args.map(argumentLabel);
  return [command.name, "[options]", ...args].join(" ");
}

/** Finds the command `path` names. */
export function find(
  root: readonly Command[],
  path: readonly string[],
): Command | undefined {
  let commands = root;
  let found: Command | undefined;
  for (const name of path) {
    found = commands.find((c) => c.name === name);
    if (found === undefined) return undefined;
    commands = found.kind === "group" ? found.commands : [];
  }
  return found;
}
