/**
 * Shell completions, generated from the command definitions by
 * `@bomb.sh/tab`: `bpfx completions bash|zsh|fish` prints the script, and the
 * script calls back `bpfx complete -- <words>` for the candidates.
 *
 * @module
 */

import { type Command, COMMON, optionLabel } from "./_table.ts";
import { RootCommand } from "./_tab.ts";
import { type Io, printJson } from "./output.ts";

/** The shells `bpfx completions` writes scripts for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

/** The name the scripts complete and call back. */
const NAME = "bpfx";

/** tab's directive for "no file completion" and "default". */
const NO_FILE_COMP = 4;
const DEFAULT = 0;

/** What the completions are made from: the CLI's command table. */
export interface CompletionTable {
  /** The program's name and summary. */
  program: { name: string; summary: string };
  /** The command table (`COMMANDS` of cli.ts). */
  commands: readonly Command[];
}

/** Builds tab's model of the CLI from the command table. */
function model(input: CompletionTable): RootCommand {
  const root = new RootCommand();
  root.option("version", "print the version", "V");
  root.option("help", "print help", "h");
  const add = (path: string, command: Command) => {
    const name = path === "" ? command.name : `${path} ${command.name}`;
    if (command.hidden) return;
    const entry = root.command(name, command.summary);
    if (command.kind === "group") {
      for (const sub of command.commands) add(name, sub);
      return;
    }
    for (
      const [long, spec] of Object.entries({ ...command.options, ...COMMON })
    ) {
      const help = long === "json" ? command.json : spec.help;
      if (spec.type === "boolean") {
        if (spec.short === undefined) entry.option(long, help);
        else entry.option(long, help, spec.short);
        continue;
      }
      // An option with a value: offer its choices, or nothing (a path).
      const choices = spec.choices ?? [];
      entry.option(
        long,
        `${help} (${optionLabel(long, spec)})`,
        (complete) => {
          for (const c of choices) complete(c, "");
        },
        ...(spec.short === undefined ? [] : [spec.short]),
      );
    }
    for (const arg of command.args) {
      const choices = arg.choices;
      entry.argument(
        arg.name,
        choices === undefined ? undefined : (complete) => {
          for (const c of choices) complete(c, `${c} ${arg.help}`);
        },
        arg.variadic ?? false,
      );
    }
  };
  for (const command of input.commands) add("", command);
  root.command("help", "print help for a command");
  return root;
}

/** Runs `body` with `console.log` collected into the returned text. */
function collect(body: () => void): string {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...data: unknown[]) => {
    lines.push(data.map(String).join(" "));
  };
  try {
    body();
  } finally {
    console.log = log;
  }
  return lines.map((line) => line + "\n").join("");
}

/**
 * Three changes to tab's bash script: work without the bash-completion
 * package (it calls that package's `_get_comp_words_by_ref`), fall back on
 * file names when there are no candidates (paths are the usual arguments; a
 * directive with NoFileComp still turns that off), and let the script be
 * sourced twice: tab declares its directives `readonly` under global names,
 * so a second `source` (a re-read ~/.bashrc, or another tool's tab script)
 * failed on them; they become plain variables under bpfx's own prefix.
 */
function patchBash(script: string): string {
  const words = `_get_comp_words_by_ref -n "=:" cur prev words cword`;
  return script
    .replace(/^readonly (ShellCompDirective\w+=)/gm, "$1")
    .replace(/\bShellCompDirective(\w+)/g, `__${NAME}_ShellCompDirective$1`)
    .replace(
      words,
      `if declare -F _get_comp_words_by_ref >/dev/null; then
        ${words}
    else
        cur=\${COMP_WORDS[COMP_CWORD]}
        prev=\${COMP_WORDS[COMP_CWORD-1]}
        words=("\${COMP_WORDS[@]}")
        cword=\$COMP_CWORD
    fi`,
    )
    .replace(
      `complete -F __${NAME}_complete ${NAME}`,
      `complete -o default -F __${NAME}_complete ${NAME}`,
    );
}

/** What `bpfx completions` works from. */
export interface CompletionsInput extends CompletionTable {
  /** Print `{shell, script}` as JSON. */
  json: boolean;
}

/** `bpfx completions SHELL`: prints the completion script. */
export function completionsCommand(
  io: Io,
  shell: Shell,
  input: CompletionsInput,
): number {
  let script = collect(() => model(input).setup(NAME, NAME, shell));
  if (shell === "bash") script = patchBash(script);
  if (input.json) printJson(io, { shell, script });
  else io.out(script);
  return 0;
}

/** `bpfx complete -- WORDS`: the candidates for the last word. */
export function completeCommand(
  io: Io,
  words: string[],
  table: CompletionTable,
): number {
  const text = collect(() => model(table).parse([...words]));
  const lines = text.split("\n").filter((line) => line !== "");
  const last = lines.at(-1) ?? `:${NO_FILE_COMP}`;
  const candidates = lines.slice(0, -1);
  const current = words.at(-1) ?? "";
  // tab always forbids file completion; where it has nothing to offer for an
  // argument (OBJ, PIN, DIR), let the shell complete file names instead.
  const directive = candidates.length === 0 && !current.startsWith("-") &&
      last === `:${NO_FILE_COMP}`
    ? `:${DEFAULT}`
    : last;
  io.out([...candidates, directive].map((line) => line + "\n").join(""));
  return 0;
}
