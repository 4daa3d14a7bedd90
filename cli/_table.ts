/**
 * The command table of the `bpfx` command line: typed options and arguments,
 * split into options and arguments by {@linkcode tokenize} (the POSIX and
 * GNU conventions of `node:util`'s `parseArgs`, whose load alone costs
 * about 10 ms of a 25 ms start), help generated from the table, and usage
 * errors that name what was wrong.
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

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
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

/** A parsed command line, ready to run. */
export interface Parsed {
  readonly path: readonly string[];
  readonly leaf: Leaf;
  readonly args: unknown[];
  readonly opts: Record<string, unknown>;
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

/** An option as written: `--name`, `--name=value`, `-n`, `-nVALUE`. */
export interface OptionToken {
  /** The long name, or the letter of a short option no table entry has. */
  name: string;
  /** As written, for errors: `--name`, `-n`. */
  rawName: string;
  /** The value, inline or the next word; undefined when none was given. */
  value: string | undefined;
  /** Whether the value was written in the same word (`--name=value`). */
  inlineValue: boolean;
}

/** What {@linkcode tokenize} splits words into. */
export interface Tokens {
  options: OptionToken[];
  positionals: string[];
}

/**
 * Splits words into options and positional arguments. `--` ends the
 * options; a lone `-` is an argument; `--name=value` and `-nVALUE` carry
 * their value inline; an option the table says takes a value takes the next
 * word whatever it starts with (the Open Group's utility conventions, as
 * `node:util`'s `parseArgs`); `-abc` is `-a -b -c`, and the first of them
 * that takes a value takes the rest of the word. Options may come after
 * arguments. Unknown options are kept, for the caller to refuse by name.
 */
export function tokenize(
  words: readonly string[],
  table: Readonly<Record<string, OptionSpec>>,
): Tokens {
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(table)) {
    if (spec.short !== undefined) shorts.set(spec.short, name);
  }
  const takesValue = (name: string) =>
    Object.hasOwn(table, name) && table[name]!.type === "string";
  const options: OptionToken[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--") {
      positionals.push(...words.slice(i + 1));
      break;
    }
    if (word.startsWith("--")) {
      const eq = word.indexOf("=");
      if (eq !== -1) {
        const name = word.slice(2, eq);
        options.push({
          name,
          rawName: `--${name}`,
          value: word.slice(eq + 1),
          inlineValue: true,
        });
        continue;
      }
      const name = word.slice(2);
      const value = takesValue(name) && i + 1 < words.length
        ? words[++i]
        : undefined;
      options.push({ name, rawName: word, value, inlineValue: false });
      continue;
    }
    if (word.length < 2 || word[0] !== "-") {
      positionals.push(word);
      continue;
    }
    for (let at = 1; at < word.length; at++) {
      const letter = word[at]!;
      const name = shorts.get(letter) ?? letter;
      const rawName = `-${letter}`;
      if (!takesValue(name)) {
        options.push({ name, rawName, value: undefined, inlineValue: false });
        continue;
      }
      if (at + 1 < word.length) {
        options.push({
          name,
          rawName,
          value: word.slice(at + 1),
          inlineValue: true,
        });
      } else {
        const value = i + 1 < words.length ? words[++i] : undefined;
        options.push({ name, rawName, value, inlineValue: false });
      }
      break;
    }
  }
  return { options, positionals };
}

/**
 * Parses the words after the leaf's name. Throws {@linkcode UsageError} for
 * an unknown option, a missing or invalid value, a missing or extra
 * argument, a missing required option and a conflict.
 */
export function parseLeaf(
  path: readonly string[],
  leaf: Leaf,
  words: readonly string[],
): Parsed {
  if (leaf.raw) {
    return { path, leaf, args: [[...words]], opts: {} };
  }
  const table: Record<string, OptionSpec> = { ...leaf.options, ...COMMON };
  const fail = (message: string): never => {
    throw new UsageError(path, message);
  };
  const parsed = tokenize(words, table);
  const given: Record<string, string | true> = {};
  for (const token of parsed.options) {
    // Own entries only: `--constructor` is no option.
    const spec = Object.hasOwn(table, token.name)
      ? table[token.name]
      : undefined;
    if (spec === undefined) {
      return fail(`unknown option '${token.rawName}'`);
    }
    const label = optionLabel(token.name, spec);
    if (spec.type === "boolean") {
      if (token.inlineValue) {
        return fail(`option '${label}' takes no value`);
      }
      given[token.name] = true;
      continue;
    }
    if (token.value === undefined) {
      return fail(`option '${label}' argument missing`);
    }
    given[token.name] = token.value;
  }
  const opts: Record<string, unknown> = {};
  if (given.help === true) {
    opts.help = true;
    return { path, leaf, args: [], opts };
  }
  for (const [name, spec] of Object.entries(table)) {
    const label = optionLabel(name, spec);
    const text = given[name];
    if (text === undefined) {
      if (spec.required) fail(`required option '${label}' not specified`);
      const unless = spec.requiredUnless;
      if (unless !== undefined && !unless.some((o) => given[o] !== undefined)) {
        fail(
          `required option '${label}' not specified (or give ${
            unless.map((o) => `'${optionLabel(o, table[o]!)}'`).join(" or ")
          })`,
        );
      }
      continue;
    }
    for (const other of spec.conflicts ?? []) {
      if (given[other] !== undefined) {
        fail(
          `option '${label}' cannot be used with option '${
            optionLabel(other, table[other]!)
          }'`,
        );
      }
    }
    for (const other of spec.needs ?? []) {
      if (given[other] === undefined) {
        fail(
          `option '${label}' needs option '${
            optionLabel(other, table[other]!)
          }'`,
        );
      }
    }
    if (text === true) {
      opts[camel(name)] = true;
      continue;
    }
    if (spec.choices !== undefined && !spec.choices.includes(text)) {
      fail(
        `option '${label}' argument '${text}' is invalid. Allowed choices are ${
          spec.choices.join(", ")
        }.`,
      );
    }
    if (spec.parse === undefined) {
      opts[camel(name)] = text;
      continue;
    }
    try {
      opts[camel(name)] = spec.parse(text);
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      fail(`option '${label}' argument '${text}' is invalid. ${error.message}`);
    }
  }
  if (opts.pretty === true) opts.json = true;

  const positionals = parsed.positionals;
  const args: unknown[] = [];
  let at = 0;
  for (const spec of leaf.args) {
    if (spec.variadic) {
      args.push(positionals.slice(at));
      at = positionals.length;
      continue;
    }
    const word = positionals[at];
    if (word === undefined) {
      if (spec.default !== undefined) args.push(spec.default);
      else if (spec.optional) args.push(undefined);
      else fail(`missing required argument '${spec.name}'`);
      continue;
    }
    if (spec.choices !== undefined && !spec.choices.includes(word)) {
      fail(
        `command-argument value '${word}' is invalid for argument '${spec.name}'. Allowed choices are ${
          spec.choices.join(", ")
        }.`,
      );
    }
    args.push(word);
    at++;
  }
  if (at < positionals.length) {
    const n = leaf.args.length;
    fail(
      `too many arguments for '${path.join(" ")}'. Expected ${n} argument${
        n === 1 ? "" : "s"
      } but got ${positionals.length}.`,
    );
  }
  return { path, leaf, args, opts };
}

// ---------------------------------------------------------------------------
// Help

/** Wraps `text` to `width` columns, continuing lines at `indent`. */
function wrap(text: string, indent: number, width: number): string {
  const room = Math.max(20, width - indent);
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line !== "" && line.length + 1 + word.length > room) {
        lines.push(line);
        line = word;
      } else {
        line = line === "" ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return lines.join("\n" + " ".repeat(indent));
}

function rows(entries: readonly (readonly [string, string])[], width: number) {
  const left = Math.max(0, ...entries.map(([term]) => term.length));
  return entries.map(([term, text]) =>
    `  ${term.padEnd(left)}  ${wrap(text, left + 4, width)}`.trimEnd() + "\n"
  ).join("");
}

function optionHelp(spec: OptionSpec): string {
  const notes: string[] = [];
  if (spec.choices !== undefined) {
    notes.push(`choices: ${spec.choices.join(", ")}`);
  }
  if (spec.required) notes.push("required");
  if (spec.requiredUnless !== undefined) {
    notes.push(
      `required unless ${
        spec.requiredUnless.map((o) => `--${o}`).join(" or ")
      }`,
    );
  }
  return notes.length ? `${spec.help} (${notes.join("; ")})` : spec.help;
}

/** The `--help` text of a command (`path` empty: the root). */
export function helpText(
  program: { name: string; summary: string; help?: string },
  root: readonly Command[],
  path: readonly string[],
  width = 80,
): string {
  const command = path.length ? find(root, path) : undefined;
  const prefix = [program.name, ...path.slice(0, -1)].join(" ");
  let text = "";
  if (command === undefined || command.kind === "group") {
    const commands = command?.commands ?? root;
    const name = command ? `${prefix} ${command.name}` : program.name;
    text += `Usage: ${name} [options] <command>\n\n`;
    text += `${wrap(command?.summary ?? program.summary, 0, width)}\n\n`;
    text += "Options:\n";
    const options: [string, string][] = [];
    if (command === undefined) {
      options.push(["-V, --version", "print the version"]);
    }
    options.push(
      [optionLabel("json", COMMON.json!), "print help or the version as JSON"],
      [optionLabel("help", COMMON.help!), "print help"],
    );
    text += rows(options, width);
    text += "\nCommands:\n";
    const listed: [string, string][] = commands.filter((c) => !c.hidden).map(
      (c) => [usageLine(c), c.summary],
    );
    if (command === undefined) {
      listed.push(["help [command...]", "print help for a command"]);
    }
    text += rows(listed, width);
    const after = command ? command.help : program.help;
    if (after !== undefined) text += `\n${after.trim()}\n`;
    return text;
  }
  text += `Usage: ${prefix} ${usageLine(command)}\n\n`;
  text += `${wrap(command.summary, 0, width)}\n`;
  if (command.args.length) {
    text += "\nArguments:\n";
    text += rows(
      command.args.map((a) => [
        a.name,
        a.default !== undefined
          ? `${a.help} (default: ${a.default})`
          : a.choices !== undefined
          ? `${a.help} (choices: ${a.choices.join(", ")})`
          : a.help,
      ]),
      width,
    );
  }
  text += "\nOptions:\n";
  const options: [string, string][] = Object.entries(command.options).map((
    [name, spec],
  ) => [optionLabel(name, spec), optionHelp(spec)]);
  options.push(
    [optionLabel("json", COMMON.json!), command.json],
    [optionLabel("pretty", COMMON.pretty!), COMMON.pretty!.help],
    [optionLabel("help", COMMON.help!), COMMON.help!.help],
  );
  text += rows(options, width);
  if (command.help !== undefined) text += `\n${command.help.trim()}\n`;
  return text;
}

/** What `--help --json` prints: the command's table entry as data. */
export function helpDocument(
  program: { name: string; summary: string },
  root: readonly Command[],
  path: readonly string[],
): Record<string, unknown> {
  const command = path.length ? find(root, path) : undefined;
  const entry = (c: Command): Record<string, unknown> =>
    c.kind === "group"
      ? {
        name: c.name,
        summary: c.summary,
        commands: c.commands.filter((s) => !s.hidden).map((s) => s.name),
      }
      : {
        name: c.name,
        summary: c.summary,
        usage: usageLine(c),
        arguments: c.args.map((a) => ({
          name: a.name,
          help: a.help,
          required: !(a.optional || a.variadic || a.default !== undefined),
          variadic: a.variadic ?? false,
          default: a.default ?? null,
          choices: a.choices ?? null,
        })),
        options: Object.entries({ ...c.options, ...COMMON }).map((
          [name, spec],
        ) => ({
          name: `--${name}`,
          short: spec.short === undefined ? null : `-${spec.short}`,
          value: spec.type === "string" ? spec.value ?? "<value>" : null,
          help: name === "json" ? c.json : spec.help,
          required: spec.required ?? false,
          requiredUnless: spec.requiredUnless?.map((o) => `--${o}`) ?? null,
          choices: spec.choices ?? null,
        })),
        help: c.help?.trim() ?? null,
      };
  if (command === undefined) {
    return {
      name: program.name,
      summary: program.summary,
      commands: root.filter((c) => !c.hidden).map(entry),
    };
  }
  return { path: [program.name, ...path], ...entry(command) };
}
