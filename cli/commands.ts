/**
 * The command table's entries of the command groups whose entries are short:
 * doctor (its handler is in `doctor.ts`), inspect and load (`objects.ts`),
 * run (`run.ts`), ls, show and unpin (`pins.ts`), expose, unexpose and
 * exposures (`expose.ts`), watch (`watch.ts`), serve (`serve.ts`), and completions and complete
 * (`completions.ts`); with the options more than one group takes. A
 * handler's module is imported only when its command runs.
 *
 * The views group's entries are in `views_commands.ts` and the map group's
 * in `maps/mod.ts`. The other groups share this module rather than have one
 * each because every module of the table is loaded at every start,
 * `--version` included, at about 60 µs a module.
 *
 * @module
 */

import { InvalidValue, type Leaf, leaf, type OptionSpec } from "./_table.ts";
import type { CompletionTable } from "./completions.ts";

// ---------------------------------------------------------------------------
// Options more than one group takes

/** `--state <dir>`: the state directory of exposures, attach rules and the watcher. */
export const STATE = {
  type: "string",
  value: "<dir>",
  help: "the state directory (default: $BPFX_STATE, else /run/bpfx)",
} as const satisfies OptionSpec;

/** A sampling period or frequency: a positive safe integer. */
export function parsePositive(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidValue("Expected a positive integer.");
  }
  return n;
}

// ---------------------------------------------------------------------------
// doctor (doctor.ts)

/** `bpfx doctor [--fix]`. */
export const DOCTOR: Leaf = leaf({
  name: "doctor",
  summary: "check that this machine can run bpfx",
  help: "Exits with status 1 when a check fails.",
  options: {
    fix: {
      type: "boolean",
      help: "repair what can be repaired safely (needs root)",
    },
  },
  args: [],
  run: async ({ io, opts }) => {
    const { doctorCommand } = await import("./doctor.ts");
    return doctorCommand(io, opts);
  },
});

// ---------------------------------------------------------------------------
// inspect and load (objects.ts)

/** `--only a,b`: program names, none empty. */
function parseNames(value: string): string[] {
  const names = value.split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) {
    throw new InvalidValue("Expected program names separated by commas.");
  }
  return names;
}

/** `--max-object-size N`: bytes, a positive integer. */
function parseSize(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidValue("Expected a positive number of bytes.");
  }
  return n;
}

const MAX_OBJECT_SIZE = {
  type: "string",
  value: "<bytes>",
  help: "the largest object file to read (default: 64 MiB)",
  parse: parseSize,
} as const satisfies OptionSpec;

/** `bpfx inspect OBJ`. */
export const INSPECT: Leaf = leaf({
  name: "inspect",
  summary: "list the programs and maps of a BPF ELF object",
  help: "Needs no privileges: nothing is loaded.",
  options: { "max-object-size": MAX_OBJECT_SIZE },
  args: [{ name: "obj", help: "BPF ELF object file" }],
  run: async ({ io, args: [obj], opts }) => {
    const { inspectCommand } = await import("./objects.ts");
    return inspectCommand(io, obj, opts);
  },
});

/** `bpfx load OBJ --pin DIR`. */
export const LOAD: Leaf = leaf({
  name: "load",
  summary: "load a BPF ELF object and pin it",
  help: `Programs are pinned at DIR/<name> and maps at DIR/maps/<name>; maps the
object pins by name go under --pin-by-name-root, where a compatible map
already pinned is reused. A failed load removes every pin it made.
Programs in a section whose name starts with '?' are loaded only when
--only names them; with --only, only the maps the named programs use are
pinned.`,
  options: {
    pin: {
      type: "string",
      value: "<dir>",
      required: true,
      help: "bpffs directory to pin the programs and maps in",
    },
    "pin-by-name-root": {
      type: "string",
      value: "<dir>",
      help: "where maps pinned by name go (default: /sys/fs/bpf)",
    },
    only: {
      type: "string",
      value: "<names>",
      help:
        "load only these programs (comma-separated), with the maps they use",
      parse: parseNames,
    },
    "max-object-size": MAX_OBJECT_SIZE,
  },
  args: [{ name: "obj", help: "BPF ELF object file" }],
  run: async ({ io, args: [obj], opts }) => {
    const { loadCommand } = await import("./objects.ts");
    return loadCommand(io, obj, opts);
  },
});

// ---------------------------------------------------------------------------
// run (run.ts)

/** `--ctx HEX|@FILE`: hex digits (spaces allowed), or a file of raw bytes. */
function parseCtx(value: string): string {
  if (value.startsWith("@")) return value;
  const digits = value.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) {
    throw new InvalidValue("Expected an even number of hex digits, or @FILE.");
  }
  return digits;
}

/** `bpfx run PIN [--ctx HEX|@FILE]`. */
export const RUN: Leaf = leaf({
  name: "run",
  summary: "run a pinned program once with a context (BPF_PROG_TEST_RUN)",
  help:
    `Prints the program's return value and, for a syscall program, the context
as the program left it (hex). Needs root.`,
  options: {
    ctx: {
      type: "string",
      value: "<hex|@file>",
      help: "the context: hex bytes, or @FILE to read raw bytes from FILE",
      parse: parseCtx,
    },
  },
  args: [{ name: "pin", help: "pinned program" }],
  run: async ({ io, args: [pin], opts }) => {
    const { runCommand } = await import("./run.ts");
    return runCommand(io, pin, opts);
  },
});

// ---------------------------------------------------------------------------
// ls, show and unpin (pins.ts)

function parseDepth(value: string): number {
  const depth = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(depth) || depth < 1) {
    throw new InvalidValue("Expected a positive integer.");
  }
  return depth;
}

/** `bpfx ls [DIR] [--depth N]`. */
export const LS: Leaf = leaf({
  name: "ls",
  summary: "list the pins under a bpffs directory",
  options: {
    depth: {
      type: "string",
      value: "<n>",
      help: "how deep to walk (1: only DIR's own entries; default: no limit)",
      parse: parseDepth,
    },
  },
  args: [{ name: "dir", help: "bpffs directory", default: "/sys/fs/bpf" }],
  run: async ({ io, args: [dir], opts }) => {
    const { lsCommand } = await import("./pins.ts");
    return lsCommand(io, dir, opts);
  },
});

/** `bpfx show PIN`. */
export const SHOW: Leaf = leaf({
  name: "show",
  summary: "describe the program, map or link at a pin",
  options: {},
  args: [{ name: "pin", help: "pin path" }],
  run: async ({ io, args: [pin], opts }) => {
    const { showCommand } = await import("./pins.ts");
    return showCommand(io, pin, opts);
  },
});

/** `bpfx unpin [-r] PIN`. */
export const UNPIN: Leaf = leaf({
  name: "unpin",
  summary: "remove a pin, or with -r a directory of pins",
  options: {
    recursive: {
      type: "boolean",
      short: "r",
      help: "remove a directory and every pin under it",
    },
  },
  args: [{ name: "pin", help: "pin path or directory" }],
  run: async ({ io, args: [pin], opts }) => {
    const { unpinCommand } = await import("./pins.ts");
    return unpinCommand(io, pin, opts);
  },
});

// ---------------------------------------------------------------------------
// expose, unexpose and exposures (expose.ts)

/** `bpfx expose PIN PATH [--bind | --into PID]`. */
export const EXPOSE: Leaf = leaf({
  name: "expose",
  summary: "put a pinned object at a path outside bpffs, and record it",
  help: `PATH is a new file, absolute, in an existing directory reached without
symlinks (--parents makes the missing ones, and removes them again if the
exposure fails); an existing file is never replaced. It becomes a symlink to
PIN, or with --bind an empty file with PIN bind-mounted on it (which holds the
object until it is unmounted). The exposure is recorded in the state directory, and
\`bpfx watch\` removes it when PIN goes.

With --into PID, PATH is inside the mount namespace of process PID (a
container's init): PIN is bind-mounted there read-only, PATH resolved from the
container's root without following symlinks. \`bpfx watch\` removes it inside
the container when PIN goes, and forgets it when the process is gone.

Examples:
  bpfx expose /sys/fs/bpf/tasks /srv/app/tasks
  bpfx expose /sys/fs/bpf/tasks /run/bpfx/tasks --into "$(runc state web | jq .pid)" --parents`,
  options: {
    bind: {
      type: "boolean",
      help: "bind-mount the pin instead of making a symlink",
    },
    into: {
      type: "string",
      value: "<pid>",
      help: "expose inside the mount namespace of this process (a container)",
      parse: parsePositive,
    },
    parents: {
      type: "boolean",
      help: "make PATH's missing directories (there, with --into)",
    },
    state: STATE,
  },
  args: [
    { name: "pin", help: "the pinned object (on bpffs)" },
    { name: "path", help: "where to expose it (off bpffs)" },
  ],
  run: async ({ io, args: [pin, path], opts }) => {
    const { exposeCommand } = await import("./expose.ts");
    return exposeCommand(io, pin, path, opts);
  },
});

/** `bpfx unexpose PATH [--into PID]`. */
export const UNEXPOSE: Leaf = leaf({
  name: "unexpose",
  summary: "remove an exposure, and forget it",
  options: {
    into: {
      type: "string",
      value: "<pid>",
      help: "the exposure is inside the container of this process",
      parse: parsePositive,
    },
    state: STATE,
  },
  args: [{ name: "path", help: "the exposure's path" }],
  run: async ({ io, args: [path], opts }) => {
    const { unexposeCommand } = await import("./expose.ts");
    return unexposeCommand(io, path, opts);
  },
});

/** `bpfx exposures`. */
export const EXPOSURES: Leaf = leaf({
  name: "exposures",
  summary: "list the recorded exposures and their state",
  help: `STATE is ok, pin-gone (the pin was removed or holds another object),
path-gone (the exposure's file was removed), unmounted, or ns-gone (an
exposure inside a container whose process is gone). IN, shown when an
exposure is inside a container, is "host" or the container's PID and mount
namespace.`,
  options: { state: STATE },
  args: [],
  run: async ({ io, opts }) => {
    const { exposuresCommand } = await import("./expose.ts");
    return exposuresCommand(io, opts);
  },
});

// ---------------------------------------------------------------------------
// watch (watch.ts)

/** `bpfx watch`. */
export const WATCH: Leaf = leaf({
  name: "watch",
  summary: "keep exposures and attach rules true as pins and cgroups change",
  help:
    `The watcher of the state directory: an exposure goes when its pin goes; a
view or link appears for each new cgroup a rule selects and goes with it;
changes made by expose, unexpose, rule add and rule rm are picked up as they
land; at start and when events are lost, everything is reconciled.
Prints one line per action (--json: one JSON object per line). SIGINT and
SIGTERM stop it cleanly. One watcher per state directory.
With --config FILE, it also applies the desired-state file at start and again
whenever it changes (a ConfigMap's ..data swap, a rename over it, an edit in
place) or on SIGHUP; a version that does not parse or validate is refused, as
one config-refused line, and the last good one stays in force.
--serve ADDR serves metrics in the same process, as \`bpfx serve\` does (with
--config, from the file's "metrics" section; /healthz is ready after the first
apply).`,
  json: "print one JSON object per line",
  options: {
    state: STATE,
    config: {
      type: "string",
      value: "<file>",
      help: "keep this desired-state file applied (see bpfx apply)",
    },
    serve: {
      type: "string",
      value: "<addr>",
      help: "also serve Prometheus metrics at this address (as bpfx serve)",
    },
  },
  args: [],
  run: async ({ io, opts, signal }) => {
    const { watchCommand } = await import("./watch.ts");
    return await watchCommand(io, opts, signal);
  },
});

// ---------------------------------------------------------------------------
// serve (serve.ts)

/** `--listen <addr>` of `bpfx serve` and `bpfx watch --serve`. */
export const LISTEN_HELP = "where to listen (default: 127.0.0.1:9445)";

/** `bpfx serve`. */
export const SERVE: Leaf = leaf({
  name: "serve",
  summary: "serve maps, views and bpfx's own state as Prometheus metrics",
  help: `GET /metrics reads every map and view of the file's "metrics" section
now, with the programs, maps and links on the host, each rule's cgroups by
state, and the scrape's own duration and errors; in the text format, or
OpenMetrics when the scraper asks for it. GET /healthz answers "ok". A bad
section is refused at start, with its line and column. SIGINT and SIGTERM
stop it. See docs/metrics.md.

Example:
  bpfx serve --config host.yaml --listen 127.0.0.1:9445`,
  json: "print where it listens as one JSON object",
  options: {
    listen: { type: "string", value: "<addr>", help: LISTEN_HELP },
    config: {
      type: "string",
      value: "<file>",
      help: "the desired-state file whose metrics section to serve",
    },
    "enable-stats": {
      type: "boolean",
      help:
        "count each program's runs and run time while serving (BPF_ENABLE_STATS)",
    },
    state: STATE,
  },
  args: [],
  run: async ({ io, opts, signal }) => {
    const { serveCommand } = await import("./serve.ts");
    return await serveCommand(io, opts, signal);
  },
});

// ---------------------------------------------------------------------------
// completions and complete (completions.ts)

const SHELLS = ["bash", "zsh", "fish"] as const;

/**
 * `bpfx completions SHELL` and `bpfx complete -- WORDS`. Both work from the
 * whole command table, which holds them: `table()` gives it when they run.
 */
export function completionCommands(table: () => CompletionTable): Leaf[] {
  return [
    leaf({
      name: "completions",
      summary: "print a shell completion script",
      help: `Examples:
  source <(bpfx completions bash)
  bpfx completions zsh > "\${fpath[1]}/_bpfx"
  bpfx completions fish > ~/.config/fish/completions/bpfx.fish`,
      json: "print {shell, script} as JSON",
      options: {},
      args: [{ name: "shell", help: "shell", choices: SHELLS }],
      run: async ({ io, args: [shell], opts }) => {
        const { completionsCommand } = await import("./completions.ts");
        return completionsCommand(io, shell, {
          ...table(),
          json: opts.json === true,
        });
      },
    }),
    leaf({
      name: "complete",
      summary: "print completion candidates (called by the completion scripts)",
      hidden: true,
      raw: true,
      options: {},
      args: [{ name: "words", help: "the words after `bpfx`", variadic: true }],
      run: async ({ io, args: [words] }) => {
        const { completeCommand } = await import("./completions.ts");
        const rest = words[0] === "--" ? words.slice(1) : words;
        return completeCommand(io, rest, table());
      },
    }),
  ];
}
