/**
 * The tokenizer of the command line: {@linkcode tokenize} splits words into
 * options and positional arguments, and {@linkcode parseLeaf} turns a leaf's
 * words into the typed values its `run` receives, or a usage error.
 *
 * @module
 */

import {
  COMMON,
  InvalidValue,
  type Leaf,
  optionLabel,
  type OptionSpec,
  UsageError,
} from "./_table.ts";
import { didYouMean } from "./_suggest.ts";

/** A parsed command line, ready to run. */
export interface Parsed {
  readonly path: readonly string[];
  readonly leaf: Leaf;
  readonly args: unknown[];
  readonly opts: Record<string, unknown>;
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
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
 * A negative number, as `Number()` or `BigInt()` read one: `-1`, `-0.5`,
 * `-1e3`, `-0x10`.
 */
const NEGATIVE =
  /^-(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)$/;

/**
 * Splits words into options and positional arguments. `--` ends the
 * options; a lone `-` is an argument; `--name=value` and `-nVALUE` carry
 * their value inline; an option the table says takes a value takes the next
 * word whatever it starts with (the Open Group's utility conventions, as
 * `node:util`'s `parseArgs`); `-abc` is `-a -b -c`, and the first of them
 * that takes a value takes the rest of the word. A word that reads as a
 * negative number (`-1`, `-0.5`, `-0x10`) and is no short option of the
 * table is an argument, so `map set PIN 42 -1` needs no `--`. Options may
 * come after arguments. Unknown options are kept, for the caller to refuse by name.
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
    if (
      word.length < 2 || word[0] !== "-" ||
      (NEGATIVE.test(word) && !shorts.has(word[1]!))
    ) {
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
      const near = token.rawName.startsWith("--")
        ? didYouMean(token.rawName, Object.keys(table).map((n) => `--${n}`))
        : "";
      return fail(`unknown option '${token.rawName}'${near}`);
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
