/**
 * Help generated from the command table: the `--help` text of the root, a
 * group or a leaf ({@linkcode helpText}), and the same as data for
 * `--help --json` ({@linkcode helpDocument}).
 *
 * @module
 */

import {
  type Command,
  COMMON,
  find,
  optionLabel,
  type OptionSpec,
  usageLine,
} from "./_table.ts";

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
