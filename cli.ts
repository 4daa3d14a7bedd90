/**
 * The `bpfx` command line: a thin layer of commander commands over `mod.ts`.
 *
 * {@linkcode main} runs it in-process and returns the exit code: 0 on
 * success, 1 on a runtime failure (or a failed `doctor` check), 2 on a usage
 * error. Each command's module is imported only when the command runs, so
 * `--help` and usage errors never load the core library.
 *
 * @example Running it
 * ```sh
 * deno run --allow-ffi --allow-env=BPFX_LIB cli.ts ls /sys/fs/bpf --json
 * ```
 *
 * @module
 */

import {
  Argument,
  Command,
  type CommanderError,
  InvalidArgumentError,
  Option,
} from "./cli/_commander.ts";
import { denoIo, fail, type Io, printJson } from "./cli/output.ts";
import { VERSION } from "./src/version.ts";

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

const SHELLS = ["bash", "zsh", "fish"] as const;
const ORDERS = [
  "self",
  "descendants-pre",
  "descendants-post",
  "ancestors-up",
] as const;
const JSON_HELP = "print JSON instead of text";
const STATE_FLAGS = "--state <dir>";
const STATE_HELP = "the state directory (default: $BPFX_STATE, else /run/bpfx)";

/** Commander codes that are not errors. */
const DONE = new Set(["commander.helpDisplayed", "commander.version"]);

/** A commander error together with the command it happened in. */
class UsageError extends Error {
  constructor(
    readonly command: Command<unknown[]>,
    readonly error: CommanderError,
  ) {
    super(error.message);
  }
}

/** The exit code of the command that ran, and what stops a long one. */
interface Run {
  code: number;
  readonly signal?: AbortSignal | undefined;
}

function parseDepth(value: string): number {
  const depth = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(depth) || depth < 1) {
    throw new InvalidArgumentError("Expected a positive integer.");
  }
  return depth;
}

/** `--only a,b`: program names, none empty. */
function parseNames(value: string, previous: string[] | undefined): string[] {
  const names = value.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) {
    throw new InvalidArgumentError(
      "Expected program names separated by commas.",
    );
  }
  return [...(previous ?? []), ...names];
}

/** `--ctx HEX|@FILE`: hex digits (spaces allowed), or a file of raw bytes. */
function parseCtx(value: string): string {
  if (value.startsWith("@")) return value;
  const digits = value.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) {
    throw new InvalidArgumentError(
      "Expected an even number of hex digits, or @FILE.",
    );
  }
  return digits;
}

/** A pid or tid: a positive 32-bit integer. */
function parseTaskId(value: string): number {
  const id = Number(value);
  if (!/^[0-9]+$/.test(value) || id < 1 || id > 0xffff_ffff) {
    throw new InvalidArgumentError("Expected a positive integer.");
  }
  return id;
}

/** Runs a command's body; a failure is reported and gives exit code 1. */
async function act(
  io: Io,
  run: Run,
  json: boolean | undefined,
  body: () => Promise<number>,
): Promise<void> {
  try {
    run.code = await body();
  } catch (error) {
    const { isBpfError } = await import("./mod.ts");
    run.code = fail(io, error, json === true, isBpfError);
  }
}

/**
 * Builds the commander program. `completions` is false for the copy given to
 * the completion generator, which adds its own `completions` and `complete`.
 */
function program(io: Io, run: Run, completions = true): Command {
  const bpfx = new Command("bpfx")
    .description(
      "Script Linux BPF pin workflows: load, list, show and remove pins on bpffs.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .helpOption("-h, --help", "print help")
    .helpCommand("help [command]", "print help for a command")
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      // main() prints usage errors itself, after the command's help.
      outputError: () => {},
      getOutHelpWidth: () => io.columns ?? 80,
      getErrHelpWidth: () => io.columns ?? 80,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .addHelpText(
      "after",
      `
Examples:
  bpfx doctor
  bpfx inspect prog.o
  bpfx load prog.o --pin /sys/fs/bpf/prog
  bpfx ls /sys/fs/bpf/prog --json
  bpfx unpin -r /sys/fs/bpf/prog`,
    );

  bpfx.command("doctor")
    .description("check that this machine can run bpfx")
    .addHelpText("after", "\nExits with status 1 when a check fails.")
    .option("--fix", "repair what can be repaired safely (needs root)")
    .option("--json", JSON_HELP)
    .action((flags) =>
      act(io, run, flags.json, async () => {
        const { doctorCommand } = await import("./cli/doctor.ts");
        return doctorCommand(io, flags);
      })
    );

  bpfx.command("inspect")
    .description("list the programs and maps of a BPF ELF object")
    .addHelpText("after", "\nNeeds no privileges: nothing is loaded.")
    .argument("<obj>", "BPF ELF object file")
    .option("--json", JSON_HELP)
    .action((obj, flags) =>
      act(io, run, flags.json, async () => {
        const { inspectCommand } = await import("./cli/objects.ts");
        return inspectCommand(io, obj, flags);
      })
    );

  bpfx.command("load")
    .description("load a BPF ELF object and pin it")
    .addHelpText(
      "after",
      `
Programs are pinned at DIR/<name> and maps at DIR/maps/<name>; maps the
object pins by name go under --pin-by-name-root, where a compatible map
already pinned is reused. A failed load removes every pin it made.
Programs in a section whose name starts with '?' are loaded only when
--only names them; with --only, only the maps the named programs use are
pinned.`,
    )
    .argument("<obj>", "BPF ELF object file")
    .requiredOption(
      "--pin <dir>",
      "bpffs directory to pin the programs and maps in",
    )
    .option(
      "--pin-by-name-root <dir>",
      "where maps pinned by name go (default: /sys/fs/bpf)",
    )
    .option(
      "--only <names>",
      "load only these programs (comma-separated), with the maps they use",
      parseNames,
    )
    .option("--json", JSON_HELP)
    .action((obj, flags) =>
      act(io, run, flags.json, async () => {
        const { loadCommand } = await import("./cli/objects.ts");
        return loadCommand(io, obj, flags);
      })
    );

  bpfx.command("run")
    .description("run a pinned program once with a context (BPF_PROG_TEST_RUN)")
    .addHelpText(
      "after",
      `
Prints the program's return value and, for a syscall program, the context
as the program left it (hex). Needs root.`,
    )
    .argument("<pin>", "pinned program")
    .option(
      "--ctx <hex|@file>",
      "the context: hex bytes, or @FILE to read raw bytes from FILE",
      parseCtx,
    )
    .option("--json", JSON_HELP)
    .action((pin, flags) =>
      act(io, run, flags.json, async () => {
        const { runCommand } = await import("./cli/run.ts");
        return runCommand(io, pin, flags);
      })
    );

  bpfx.command("ls")
    .description("list the pins under a bpffs directory")
    .argument("[dir]", "bpffs directory", "/sys/fs/bpf")
    .option(
      "--depth <n>",
      "how deep to walk (1: only DIR's own entries; default: no limit)",
      parseDepth,
    )
    .option("--json", JSON_HELP)
    .action((dir, flags) =>
      act(io, run, flags.json, async () => {
        const { lsCommand } = await import("./cli/pins.ts");
        return lsCommand(io, dir, flags);
      })
    );

  bpfx.command("show")
    .description("describe the program, map or link at a pin")
    .argument("<pin>", "pin path")
    .option("--json", JSON_HELP)
    .action((pin, flags) =>
      act(io, run, flags.json, async () => {
        const { showCommand } = await import("./cli/pins.ts");
        return showCommand(io, pin, flags);
      })
    );

  bpfx.command("unpin")
    .description("remove a pin, or with -r a directory of pins")
    .argument("<pin>", "pin path or directory")
    .option("-r, --recursive", "remove a directory and every pin under it")
    .option("--json", JSON_HELP)
    .action((pin, flags) =>
      act(io, run, flags.json, async () => {
        const { unpinCommand } = await import("./cli/pins.ts");
        return unpinCommand(io, pin, flags);
      })
    );

  bpfx.command("view")
    .description("make a view of an iterator program and pin it")
    .addHelpText(
      "after",
      `
PROG is a pinned iterator program, or OBJ:NAME (program NAME of the ELF
object OBJ, loaded for the view). Reading PIN runs the program (bpfx cat PIN).
The parameters must be those the program's target takes: --pid or --tid for
a task iterator, --cgroup (and --order) for a cgroup iterator, --map for a
map element iterator; none for the others.

Examples:
  bpfx view build/examples/tasks.bpf.o:tasks /sys/fs/bpf/tasks --pid 1
  bpfx view build/examples/cgstat.bpf.o:cgstat /sys/fs/bpf/all \\
    --cgroup / --order descendants-pre`,
    )
    .argument("<prog>", "pinned iterator program, or OBJ:NAME")
    .argument("<pin>", "where to pin the view (on bpffs)")
    .addOption(
      new Option("--pid <n>", "only the threads of this process")
        .argParser(parseTaskId)
        .conflicts(["tid", "cgroup", "map"]),
    )
    .addOption(
      new Option("--tid <n>", "only this thread")
        .argParser(parseTaskId)
        .conflicts(["cgroup", "map"]),
    )
    .addOption(
      new Option(
        "--cgroup <path|id>",
        "the cgroup (a path, absolute or below the cgroup2 mount, or an id)",
      ).conflicts("map"),
    )
    .addOption(
      new Option("--order <order>", "the walk from --cgroup (default: self)")
        .choices(ORDERS),
    )
    .option("--map <pin>", "the pinned map to walk")
    .option(
      "--pin-by-name-root <dir>",
      "where maps pinned by name go, for OBJ:NAME (default: /sys/fs/bpf)",
    )
    .option("--json", JSON_HELP)
    .hook("preAction", (command) => {
      const flags = command.opts();
      if (flags.order !== undefined && flags.cgroup === undefined) {
        command.error(
          "error: option '--order <order>' needs option '--cgroup <path|id>'",
          { code: "bpfx.orderWithoutCgroup" },
        );
      }
    })
    .action((prog, pin, flags) =>
      act(io, run, flags.json, async () => {
        const { viewCommand } = await import("./cli/views.ts");
        return viewCommand(io, prog, pin, flags);
      })
    );

  bpfx.command("cat")
    .description("read a view to standard output")
    .addHelpText(
      "after",
      `
Each read runs the view's program; the output is written as it comes, the
same bytes \`cat VIEW\` gives. VIEW may be a symlink made by \`bpfx attach\`.`,
    )
    .argument("<view>", "pinned view, or a symlink to one")
    .option("--json", "print {path, text} once the view is read")
    .action((view, flags) =>
      act(io, run, flags.json, async () => {
        const { catCommand } = await import("./cli/views.ts");
        return await catCommand(io, view, flags);
      })
    );

  bpfx.command("attach")
    .description("keep a view per cgroup of a subtree, in a mirror tree")
    .addHelpText(
      "after",
      `
Pins a view of PROG (a cgroup iterator: pinned, or OBJ:NAME) for each cgroup
under --cgroup-root at <pin root>/<cgroup path>/NAME, and a symlink to it at
<expose root>/<cgroup path>/NAME. Views of cgroups that are gone are removed;
running it again changes nothing. In the pin tree, '.' in a directory name is
written %2E (bpffs refuses dots) and '%' is written %25.

The attach is recorded as a rule in the state directory, which \`bpfx watch\`
keeps true: a view for each cgroup that appears, none for those removed. A
program given as OBJ:NAME is pinned at <pin root>/%prog-NAME for it.

Example:
  bpfx attach build/examples/cgstat.bpf.o:cgstat --cgroup-root system.slice \\
    --pin-root /sys/fs/bpf/cgstat --expose-root /run/bpfx/cgroups --name stat
  cat /run/bpfx/cgroups/ssh.service/stat`,
    )
    .argument("<prog>", "pinned cgroup iterator program, or OBJ:NAME")
    .requiredOption(
      "--cgroup-root <cgroup>",
      "the subtree's root (a path, absolute or below the cgroup2 mount)",
    )
    .requiredOption("--pin-root <dir>", "where to pin the views (on bpffs)")
    .requiredOption(
      "--expose-root <dir>",
      "where to mirror the cgroup tree (not on bpffs or cgroupfs)",
    )
    .requiredOption("--name <name>", "each view's file name (no '/' or '.')")
    .option(
      "--pin-by-name-root <dir>",
      "where maps pinned by name go, for OBJ:NAME (default: /sys/fs/bpf)",
    )
    .option(STATE_FLAGS, STATE_HELP)
    .option("--json", "print the full report as JSON")
    .action((prog, flags) =>
      act(io, run, flags.json, async () => {
        const { attachCommand } = await import("./cli/views.ts");
        return await attachCommand(io, prog, flags);
      })
    );

  bpfx.command("detach")
    .description("remove the views attach made, and their symlinks")
    .addHelpText(
      "after",
      `
The matching attach rules (same pin root, and --name if given) are forgotten
in the state directory first, so that \`bpfx watch\` stops keeping them.`,
    )
    .requiredOption("--pin-root <dir>", "the pin root given to attach")
    .requiredOption("--expose-root <dir>", "the expose root given to attach")
    .option("--name <name>", "only the views of this name (default: all)")
    .option(STATE_FLAGS, STATE_HELP)
    .option("--json", "print the full report as JSON")
    .action((flags) =>
      act(io, run, flags.json, async () => {
        const { detachCommand } = await import("./cli/views.ts");
        return await detachCommand(io, flags);
      })
    );

  bpfx.command("expose")
    .description("put a pinned object at a path outside bpffs, and record it")
    .addHelpText(
      "after",
      `
PATH is a new file, absolute, in an existing directory reached without
symlinks; an existing file is never replaced. It becomes a symlink to PIN, or
with --bind an empty file with PIN bind-mounted on it (which holds the object
until it is unmounted). The exposure is recorded in the state directory, and
\`bpfx watch\` removes it when PIN goes.

Example:
  bpfx expose /sys/fs/bpf/tasks /srv/app/tasks`,
    )
    .argument("<pin>", "the pinned object (on bpffs)")
    .argument("<path>", "where to expose it (off bpffs)")
    .option("--bind", "bind-mount the pin instead of making a symlink")
    .option(STATE_FLAGS, STATE_HELP)
    .option("--json", JSON_HELP)
    .action((pin, path, flags) =>
      act(io, run, flags.json, async () => {
        const { exposeCommand } = await import("./cli/expose.ts");
        return exposeCommand(io, pin, path, flags);
      })
    );

  bpfx.command("unexpose")
    .description("remove an exposure, and forget it")
    .argument("<path>", "the exposure's path")
    .option(STATE_FLAGS, STATE_HELP)
    .option("--json", JSON_HELP)
    .action((path, flags) =>
      act(io, run, flags.json, async () => {
        const { unexposeCommand } = await import("./cli/expose.ts");
        return unexposeCommand(io, path, flags);
      })
    );

  bpfx.command("exposures")
    .description("list the recorded exposures and their state")
    .addHelpText(
      "after",
      `
STATE is ok, pin-gone (the pin was removed or holds another object),
path-gone (the exposure's file was removed) or unmounted.`,
    )
    .option(STATE_FLAGS, STATE_HELP)
    .option("--json", JSON_HELP)
    .action((flags) =>
      act(io, run, flags.json, async () => {
        const { exposuresCommand } = await import("./cli/expose.ts");
        return exposuresCommand(io, flags);
      })
    );

  bpfx.command("watch")
    .description(
      "keep exposures and attach rules true as pins and cgroups change",
    )
    .addHelpText(
      "after",
      `
The watcher of the state directory: an exposure goes when its pin goes; a
view appears for each new cgroup under an attach rule and goes with it;
changes made by expose, unexpose, attach and detach are picked up as they
land; at start and when events are lost, everything is reconciled. Prints one
line per action (--json: one JSON object per line). SIGINT and SIGTERM stop it
cleanly. One watcher per state directory.`,
    )
    .option(STATE_FLAGS, STATE_HELP)
    .option("--json", "print one JSON object per line")
    .action((flags) =>
      act(io, run, flags.json, async () => {
        const { watchCommand } = await import("./cli/watch.ts");
        return await watchCommand(io, flags, run.signal);
      })
    );

  const map = bpfx.command("map")
    .description("read and write the entries of a pinned map")
    .addHelpText(
      "after",
      `
KEY and VALUE are each one argument: JSON typed by the map's BTF, or bytes
as bpftool writes them, quoted as one argument. Per-CPU maps take one value
for every CPU, or a JSON array of one per CPU.

Examples:
  bpfx map dump /sys/fs/bpf/app/maps/counts --json
  bpfx map get /sys/fs/bpf/app/maps/counts 42
  bpfx map set /sys/fs/bpf/app/maps/flows '{"saddr": 1}' '{"pid": 42}'
  bpfx map set /sys/fs/bpf/app/maps/counts "hex 2a 00 00 00" "1 0 0 0 0 0 0 0"
  bpfx map delete /sys/fs/bpf/app/maps/counts 0x2a
  bpfx map watch /sys/fs/bpf/app/maps/events --json`,
    );

  map.command("dump")
    .description("print every entry of a map, as it is read")
    .addHelpText(
      "after",
      `
A table of keys and values (formatted by BTF, else hex bytes); with --json,
bpftool's JSON: [{"key": ["0x2a", ...], "value": [...], "formatted":
{"key": 42, "value": 1}}, ...], "values": [{"cpu": 0, "value": [...]}, ...]
for per-CPU maps, "formatted" only with BTF. Streams: memory stays bounded.`,
    )
    .argument("<pin>", "pinned map")
    .option("--json", "print bpftool's JSON array")
    .action((pin, flags) =>
      act(io, run, flags.json, async () => {
        const { mapDumpCommand } = await import("./cli/maps.ts");
        return await mapDumpCommand(io, pin, flags);
      })
    );

  map.command("get")
    .description("print the value of a key")
    .argument("<pin>", "pinned map")
    .argument("<key>", "the key: JSON or bytes")
    .option("--json", JSON_HELP)
    .action((pin, key, flags) =>
      act(io, run, flags.json, async () => {
        const { mapGetCommand } = await import("./cli/maps.ts");
        return mapGetCommand(io, pin, key, flags);
      })
    );

  map.command("set")
    .description("add or replace an entry")
    .argument("<pin>", "pinned map")
    .argument("<key>", "the key: JSON or bytes")
    .argument("<value>", "the value: JSON or bytes")
    .addOption(
      new Option("--noexist", "only add: refuse a key that exists")
        .conflicts("exist"),
    )
    .option("--exist", "only replace: refuse a key that does not exist")
    .option("--json", "print the entry written as JSON")
    .action((pin, key, value, flags) =>
      act(io, run, flags.json, async () => {
        const { mapSetCommand } = await import("./cli/maps.ts");
        return mapSetCommand(io, pin, key, value, flags);
      })
    );

  map.command("delete")
    .description("remove an entry")
    .argument("<pin>", "pinned map")
    .argument("<key>", "the key: JSON or bytes")
    .option("--json", "print the key removed as JSON")
    .action((pin, key, flags) =>
      act(io, run, flags.json, async () => {
        const { mapDeleteCommand } = await import("./cli/maps.ts");
        return mapDeleteCommand(io, pin, key, flags);
      })
    );

  map.command("watch")
    .description("print the records of a ring buffer as they come")
    .addHelpText(
      "after",
      `
One line per record: its size and bytes in hex (--json: {"size": n, "data":
"<hex>"} per line). SIGINT and SIGTERM stop it cleanly.`,
    )
    .argument("<pin>", "pinned ring buffer")
    .option("--json", "print one JSON object per line")
    .action((pin, flags) =>
      act(io, run, flags.json, async () => {
        const { mapWatchCommand } = await import("./cli/maps.ts");
        return await mapWatchCommand(io, pin, flags, run.signal);
      })
    );

  if (completions) {
    bpfx.command("completions")
      .description("print a shell completion script")
      .addArgument(new Argument("<shell>", "shell").choices(SHELLS))
      .option("--json", "print {shell, script} as JSON")
      .addHelpText(
        "after",
        `
Examples:
  source <(bpfx completions bash)
  bpfx completions zsh > "\${fpath[1]}/_bpfx"
  bpfx completions fish > ~/.config/fish/completions/bpfx.fish`,
      )
      .action((shell, flags) =>
        act(io, run, flags.json, async () => {
          const { completionsCommand } = await import("./cli/completions.ts");
          return completionsCommand(io, shell, {
            program: program(io, run, false),
            json: flags.json === true,
          });
        })
      );

    bpfx.command("complete", { hidden: true })
      .description(
        "print completion candidates (called by the completion scripts)",
      )
      .argument(
        "[words...]",
        "the words after `bpfx`, the last one being completed",
      )
      .allowUnknownOption()
      .action((words) =>
        act(io, run, false, async () => {
          const { completeCommand } = await import("./cli/completions.ts");
          return completeCommand(io, words, program(io, run, false));
        })
      );
  }

  // Each command reports its own usage errors, so main() can print its help.
  const commands: Command<unknown[]>[] = [bpfx];
  for (const command of commands) {
    command.exitOverride((error) => {
      throw new UsageError(command, error);
    });
    commands.push(...command.commands);
  }
  return bpfx;
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
  const io = options.io ?? denoIo();
  const run: Run = { code: 0, signal: options.signal };
  try {
    await program(io, run).parseAsync(args, { from: "user" });
    return run.code;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const { command, error: cause } = error;
    if (DONE.has(cause.code)) return 0;
    // `bpfx help CMD` (exit code 0), or `bpfx` alone (1): commander has
    // printed the help already.
    if (cause.code === "commander.help") {
      if (cause.exitCode === 0) return 0;
      // `bpfx help frob` ends here too: name what was not found.
      const asked = args[0] === "help" ? args[1] : undefined;
      io.err(
        asked === undefined
          ? "\nerror: missing command\n"
          : `\nerror: unknown command '${asked}'\n`,
      );
      return 2;
    }
    io.err(`${command.helpInformation({ error: true })}\n${cause.message}\n`);
    if (args.includes("--json")) {
      printJson(io, {
        error: {
          kind: "invalid",
          op: "usage",
          errno: 0,
          message: cause.message.replace(/^error: /, ""),
          path: null,
          log: null,
          feature: null,
          hint: `see \`${
            command.name() === "bpfx" ? "" : "bpfx "
          }${command.name()} --help\``,
          causes: [],
        },
      });
    }
    return 2;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
