// The command line: help and usage errors (snapshot-tested), runtime
// failures, the --json shape of each command, completions, and whole-process
// behaviour through the `./bpfx` launcher: no privileges, no bpffs, doctor
// --fix in a private mount namespace.
import { COMMANDS, type Io, main } from "../cli.ts";
import type { Command } from "../cli/_table.ts";
import { cliJson } from "../cli/output.ts";
import { doctor, inspect, load, ls, show, VERSION } from "../mod.ts";
import {
  assert,
  bpftoolMap,
  BPFX,
  HELLO,
  kernelTest,
  privateBpffs,
  ROOT,
  run,
  tree,
} from "./_kernel.ts";

// ---------------------------------------------------------------------------
// Helpers

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main(args)` in-process with its output captured. */
async function cli(args: string[]): Promise<Output> {
  let stdout = "";
  let stderr = "";
  const io: Io = {
    out: (text) => {
      stdout += text;
    },
    err: (text) => {
      stderr += text;
    },
    isTerminal: false,
    columns: undefined,
  };
  const code = await main(args, { io });
  return { code, stdout, stderr };
}

/** Runs the launcher as a whole process, from the repository root. */
function bpfx(args: string[]): Promise<Output> {
  return run(BPFX, args, { cwd: ROOT, env: { NO_COLOR: "1" } });
}

/** Shows what a command printed, for assertion messages. */
function dump(label: string, o: Output): string {
  return `${label}: exit ${o.code}\n--- stdout\n${o.stdout}--- stderr\n${o.stderr}`;
}

/** Fails when `text` holds a JavaScript stack trace. */
function noStack(text: string, label: string): void {
  assert.ok(
    !/^\s+at .+[:(]/m.test(text),
    `${label}: a stack trace was printed:\n${text}`,
  );
}

/** Parses JSON, failing with the text when it does not parse. */
function parse(text: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    assert.fail(`${label}: not JSON (${(e as Error).message}):\n${text}`);
  }
}

/** Field types: a `typeof` name, "array", "null", or alternatives "a|b". */
type Shape = Record<string, string>;

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** Asserts `value` is an object whose fields have the types in `shape`. */
function hasShape(
  value: unknown,
  shape: Shape,
  label: string,
): Record<string, unknown> {
  assert.equal(typeName(value), "object", `${label} is an object`);
  const obj = value as Record<string, unknown>;
  for (const [key, types] of Object.entries(shape)) {
    assert.ok(key in obj, `${label} has "${key}": ${JSON.stringify(obj)}`);
    const t = typeName(obj[key]);
    assert.ok(
      types.split("|").includes(t),
      `${label}.${key} is ${types}, got ${t}: ${JSON.stringify(obj[key])}`,
    );
  }
  return obj;
}

/** The `{"error": {...}}` document printed by `--json` on failure. */
function errorDoc(o: Output, label: string): Record<string, unknown> {
  const doc = hasShape(parse(o.stdout, label), { error: "object" }, label);
  return hasShape(doc["error"], {
    kind: "string",
    op: "string",
    errno: "number",
    message: "string",
    path: "string|null",
    log: "string|null",
    feature: "string|null",
    hint: "string|null",
    causes: "array",
  }, `${label} error`);
}

// ---------------------------------------------------------------------------
// Snapshots: tests/snapshots/<name>.txt; BPFX_UPDATE_SNAPSHOTS=1 rewrites them.

const SNAPSHOTS = `${ROOT}/tests/snapshots`;
const UPDATE = Deno.env.get("BPFX_UPDATE_SNAPSHOTS") === "1";

/** A line diff of `a` (expected, "-") and `b` (actual, "+"), by LCS. */
function lineDiff(a: string, b: string): string {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  // lcs[i][j]: the longest common subsequence of x[i..] and y[j..].
  const lcs = Array.from({ length: n + 1 }, () => new Array<number>(m + 1));
  for (let i = n; i >= 0; i--) {
    for (let j = m; j >= 0; j--) {
      lcs[i]![j] = i === n || j === m
        ? 0
        : x[i] === y[j]
        ? lcs[i + 1]![j + 1]! + 1
        : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      out.push(`  ${x[i]}`);
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push(`- ${x[i]}`);
      i++;
    } else {
      out.push(`+ ${y[j]}`);
      j++;
    }
  }
  return out.join("\n");
}

/** Compares `actual` with the snapshot `name`, or rewrites it. */
async function snapshot(name: string, actual: string): Promise<void> {
  const file = `${SNAPSHOTS}/${name}.txt`;
  if (UPDATE) {
    await Deno.mkdir(SNAPSHOTS, { recursive: true });
    await Deno.writeTextFile(file, actual);
    console.warn(`wrote snapshot "${file}"`);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    assert.fail(
      `No snapshot "${file}": run with BPFX_UPDATE_SNAPSHOTS=1 to write it`,
    );
  }
  if (expected !== actual) {
    assert.fail(
      `Output differs from snapshot "${file}" (- snapshot, + actual; ` +
        `BPFX_UPDATE_SNAPSHOTS=1 rewrites it):\n${lineDiff(expected, actual)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Help and usage errors: no kernel needed.

/** Every command path of the table, groups and their commands. */
function commandPaths(commands: readonly Command[], prefix: string[] = []) {
  const out: string[][] = [];
  for (const c of commands) {
    if (c.hidden) continue;
    out.push([...prefix, c.name]);
    if (c.kind === "group") {
      out.push(...commandPaths(c.commands, [...prefix, c.name]));
    }
  }
  return out;
}

Deno.test("bpfx --help and every command's --help match their snapshots", async () => {
  const root = await cli(["--help"]);
  assert.equal(root.code, 0, dump("--help", root));
  assert.equal(root.stderr, "");
  await snapshot("help", root.stdout);
  assert.equal((await cli(["-h"])).stdout, root.stdout);

  const paths = commandPaths(COMMANDS);
  assert.ok(paths.length >= 20, `only ${paths.length} commands`);
  for (const path of paths) {
    const label = `${path.join(" ")} --help`;
    const help = await cli([...path, "--help"]);
    assert.equal(help.code, 0, dump(label, help));
    assert.equal(help.stderr, "", label);
    assert.ok(
      help.stdout.startsWith(`Usage: bpfx ${path.join(" ")} `),
      `${label}: ${help.stdout}`,
    );
    await snapshot(`help_${path.join("_")}`, help.stdout);
    // `help CMD` is the same text.
    const viaHelp = await cli(["help", ...path]);
    assert.equal(viaHelp.code, 0, dump(`help ${path.join(" ")}`, viaHelp));
    assert.equal(viaHelp.stdout, help.stdout, `help ${path.join(" ")}`);
    // And --json gives the same command as data.
    const doc = JSON.parse((await cli([...path, "--help", "--json"])).stdout);
    assert.deepEqual(doc.path, ["bpfx", ...path], label);
  }

  // Required options are marked in help.
  const loadHelp = await cli(["load", "--help"]);
  assert.match(loadHelp.stdout, /--pin <dir> .*\n.*\(required\)/);

  const version = await cli(["--version"]);
  assert.deepEqual(version, { code: 0, stdout: `${VERSION}\n`, stderr: "" });
  for (const flag of ["--json", "-j"]) {
    const v = await cli(["--version", flag]);
    assert.deepEqual(JSON.parse(v.stdout), { name: "bpfx", version: VERSION });
  }
  const rootDoc = JSON.parse((await cli(["--help", "--json"])).stdout);
  assert.deepEqual(
    rootDoc.commands.map((c: { name: string }) => c.name),
    COMMANDS.filter((c) => !c.hidden).map((c) => c.name),
  );

  // The launcher prints the same help (stdout is not a terminal: width 80).
  const launched = await bpfx(["--help"]);
  assert.equal(launched.code, 0, dump("./bpfx --help", launched));
  assert.equal(launched.stdout, root.stdout);
});

Deno.test(
  "usage errors exit 2 and print error: ..., then one line pointing to --help",
  async () => {
    const cases: { args: string[]; help: string; error: string }[] = [
      {
        args: ["ls", "--bogus"],
        help: "bpfx ls",
        error: "error: unknown option '--bogus'",
      },
      {
        args: ["load", HELLO],
        help: "bpfx load",
        error: "error: required option '--pin <dir>' not specified",
      },
      {
        args: ["ls", "--depth", "x"],
        help: "bpfx ls",
        error:
          "error: option '--depth <n>' argument 'x' is invalid. Expected a positive integer.",
      },
      {
        args: ["ls", "--depth", "0"],
        help: "bpfx ls",
        error:
          "error: option '--depth <n>' argument '0' is invalid. Expected a positive integer.",
      },
      {
        args: ["show"],
        help: "bpfx show",
        error: "error: missing required argument 'pin'",
      },
      {
        args: ["frob"],
        help: "bpfx",
        error: "error: unknown command 'frob'",
      },
      {
        args: [],
        help: "bpfx",
        error: "error: missing command",
      },
      {
        args: ["help", "frob"],
        help: "bpfx",
        error: "error: unknown command 'frob'",
      },
      {
        args: ["map", "frob"],
        help: "bpfx map",
        error: "error: unknown command 'frob'",
      },
      {
        args: ["rule"],
        help: "bpfx rule",
        error: "error: missing command",
      },
    ];
    for (const c of cases) {
      const label = `bpfx ${c.args.join(" ")}`;
      const o = await cli(c.args);
      assert.equal(o.code, 2, dump(label, o));
      assert.equal(o.stdout, "", `${label}: nothing on stdout`);
      // Two lines, not the whole help.
      assert.equal(
        o.stderr,
        `${c.error}\nTry '${c.help} --help' for more information.\n`,
        label,
      );
    }

    // The full text of one, as a snapshot.
    await snapshot("usage_load_no_pin", (await cli(["load", HELLO])).stderr);

    // With --json, the error is a document on stdout too.
    const json = await cli(["ls", "--bogus", "--json"]);
    assert.equal(json.code, 2, dump("ls --bogus --json", json));
    const e = errorDoc(json, "ls --bogus --json");
    assert.deepEqual([e["kind"], e["op"], e["errno"], e["message"]], [
      "invalid",
      "usage",
      0,
      "unknown option '--bogus'",
    ]);
    assert.match(String(e["hint"]), /bpfx ls --help/);

    // And the whole process exits 2.
    const launched = await bpfx(["frob"]);
    assert.equal(launched.code, 2, dump("./bpfx frob", launched));
    assert.equal(launched.stdout, "");
    assert.equal(
      launched.stderr,
      "error: unknown command 'frob'\nTry 'bpfx --help' for more information.\n",
    );
    noStack(launched.stderr, "./bpfx frob");
  },
);

Deno.test("a mistyped command or option gets did you mean, only for close matches", async () => {
  const cases: [string[], string][] = [
    [["atach"], "unknown command 'atach'; did you mean 'attach'?"],
    [["shwo", "x"], "unknown command 'shwo'; did you mean 'show'?"],
    [["map", "gte"], "unknown command 'gte'; did you mean 'get'?"],
    [["rule", "rn"], "unknown command 'rn'; did you mean 'rm'?"],
    [["help", "exposse"], "unknown command 'exposse'; did you mean 'expose'?"],
    [
      ["ls", "--dpeth", "2"],
      "unknown option '--dpeth'; did you mean '--depth'?",
    ],
    [
      ["rule", "rm", "--pin-rot", "/x"],
      "unknown option '--pin-rot'; did you mean '--pin-root'?",
    ],
    [["--jsno"], "unknown option '--jsno'; did you mean '--json'?"],
    // Nothing close: no guess.
    [["frob"], "unknown command 'frob'"],
    [["ls", "--bogus"], "unknown option '--bogus'"],
    [["ls", "-x"], "unknown option '-x'"],
  ];
  for (const [args, message] of cases) {
    const o = await cli(args);
    assert.equal(o.code, 2, dump(args.join(" "), o));
    assert.equal(o.stderr.split("\n")[0], `error: ${message}`, args.join(" "));
  }
  // Hidden commands are never offered (`complete` is the completions' own).
  const hidden = await cli(["compete"]);
  assert.ok(!hidden.stderr.includes("'complete'"), hidden.stderr);
  // Two as close: both named.
  const two = await cli(["map", "pxsh"]);
  assert.match(two.stderr, /did you mean 'push'\?/);
  const both = await cli(["map", "pet"]);
  assert.match(both.stderr, /did you mean 'get' or 'set'\?/);
});

Deno.test("-j, -p, --json and --pretty may come before the command, as bpftool takes them", async () => {
  // Help as data: the same document either way.
  const after = await cli(["help", "ls", "--json"]);
  for (const before of [["-j"], ["--json"], ["-p"], ["--pretty"], ["-jp"]]) {
    const o = await cli([...before, "ls", "--help"]);
    assert.equal(o.code, 0, dump(before.join(" "), o));
    assert.deepEqual(JSON.parse(o.stdout), JSON.parse(after.stdout));
  }
  assert.match((await cli(["-p", "ls", "--help"])).stdout, /^{\n {2}"path"/);
  // A usage error of the command, as JSON.
  const usage = await cli(["-j", "ls", "--bogus"]);
  assert.equal(usage.code, 2);
  assert.equal(
    errorDoc(usage, "-j ls --bogus")["message"],
    "unknown option '--bogus'",
  );
  // A runtime failure of the command, as JSON (a directory off bpffs).
  const dir = await Deno.makeTempDir({ prefix: "bpfxcli-" });
  try {
    const o = await cli(["-j", "ls", dir]);
    assert.equal(o.code, 1, dump("-j ls DIR", o));
    assert.equal(errorDoc(o, "-j ls DIR")["kind"], "not-bpffs");
    assert.deepEqual(o, await cli(["ls", dir, "-j"]));
  } finally {
    await Deno.remove(dir);
  }
  // The version, and the whole process.
  const v = await bpfx(["-j", "--version"]);
  assert.deepEqual(JSON.parse(v.stdout), { name: "bpfx", version: VERSION });
});

Deno.test("a negative number is an argument where the command takes one, not an option", async () => {
  // `map set PIN KEY VALUE` takes -1 as the value: the failure is the
  // missing pin's (exit 1), not a usage error.
  const dir = await Deno.makeTempDir({ prefix: "bpfxcli-" });
  try {
    for (const value of ["-1", "-0x10", "-2.5", "-1e3"]) {
      const o = await cli(["map", "set", `${dir}/nope`, "42", value]);
      assert.equal(o.code, 1, dump(`map set ... ${value}`, o));
      assert.match(o.stderr, /^error: Cannot open pin /);
    }
  } finally {
    await Deno.remove(dir);
  }
  // Where no argument is left for it, it is one too many (not an option).
  const extra = await cli(["show", "/x", "-1"]);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /^error: too many arguments for 'show'/);
  // A word that is no number stays an option.
  const option = await cli(["show", "/x", "-1x"]);
  assert.match(option.stderr, /^error: unknown option '-1'/);
});

Deno.test("the old spellings detach, links and attach --cgroup-root say what to type instead, and run rule rm, ls and add", async () => {
  const warning = (old: string, now: string) =>
    `warning: 'bpfx ${old}' is deprecated and goes in the next release: type 'bpfx ${now}'\n`;
  // Each reaches the new command: its usage error, after the one line.
  const cases: [string[], string, string, string][] = [
    [
      ["detach"],
      "detach",
      "rule rm",
      "required option '--pin-root <dir>' not specified",
    ],
    [["links", "--bogus"], "links", "rule ls", "unknown option '--bogus'"],
    [
      ["attach", "p", "--cgroup-root", "/", "--name", "x"],
      "attach --cgroup-root",
      "rule add",
      "required option '--pin-root <dir>' not specified",
    ],
    [
      ["attach", "p", "--cgroup-root=/", "--pin-root", "/x"],
      "attach --cgroup-root",
      "rule add",
      "required option '--name <name>' not specified",
    ],
  ];
  for (const [args, old, now, error] of cases) {
    const o = await cli(args);
    assert.equal(o.code, 2, dump(args.join(" "), o));
    assert.equal(
      o.stderr,
      `${
        warning(old, now)
      }error: ${error}\nTry 'bpfx ${now} --help' for more information.\n`,
    );
  }
  // Their help is the new command's, after the warning.
  for (
    const [old, now] of [["detach", "rule rm"], ["links", "rule ls"]] as const
  ) {
    for (const args of [[old, "--help"], ["help", old]]) {
      const o = await cli(args);
      assert.equal(o.code, 0);
      assert.equal(o.stderr, warning(old, now));
      assert.equal(o.stdout, (await cli([...now.split(" "), "--help"])).stdout);
    }
  }
  // attach --to is no old spelling: no warning, and --to with
  // --cgroup-root is refused.
  const mixed = await cli([
    "attach",
    "p",
    "--to",
    "lo",
    "--pin",
    "/x",
    "--cgroup-root",
    "/",
  ]);
  assert.equal(mixed.code, 2);
  assert.match(
    mixed.stderr,
    /^error: option '--to <target>' cannot be used with option '--cgroup-root <cgroup>' \(a rule over a cgroup subtree is 'bpfx rule add'\)\n/,
  );
  // The old commands are gone from help and completions.
  const help = (await cli(["--help"])).stdout;
  assert.ok(!/^ {2}(detach|links) /m.test(help), help);
  assert.match(help, /^ {2}rule <command> /m);
  const offered = (await cli(["complete", "--", ""])).stdout;
  assert.ok(!/^(detach|links)\b/m.test(offered), offered);
  assert.match(offered, /^rule\b/m);
});

// ---------------------------------------------------------------------------
// Runtime failures

kernelTest(
  "runtime failures exit 1 with error: naming the input and the cause, and no stack trace",
  async () => {
    await using b = await privateBpffs();
    const missingPin = `${b.path}/nope`;
    const cases: {
      args: string[];
      message: string;
      kind: string;
      op: string;
      errno: number;
    }[] = [
      {
        args: ["show", missingPin],
        message: `Cannot open pin "${missingPin}": no such file or directory`,
        kind: "not-found",
        op: "BPF_OBJ_GET",
        errno: 2,
      },
      {
        args: ["load", "/nonexistent/x.o", "--pin", `${b.path}/x`],
        message:
          `Cannot read BPF object "/nonexistent/x.o": no such file or directory`,
        kind: "not-found",
        op: "open",
        errno: 2,
      },
    ];
    const outside = await Deno.makeTempFile({ prefix: "bpfxcli-" });
    try {
      cases.push({
        args: ["unpin", outside],
        message: `Cannot unpin "${outside}": the path is not on bpffs`,
        kind: "not-bpffs",
        op: "statfs",
        errno: 0,
      });
      for (const c of cases) {
        const label = `bpfx ${c.args.join(" ")}`;
        const text = await cli(c.args);
        assert.equal(text.code, 1, dump(label, text));
        assert.equal(text.stdout, "", `${label}: nothing on stdout`);
        assert.ok(
          text.stderr.startsWith(`error: ${c.message}\n`),
          `${label}: ${JSON.stringify(c.message)}\n${text.stderr}`,
        );
        assert.ok(!text.stderr.includes("Usage:"), `${label}: no help`);
        noStack(text.stderr, label);

        const json = await cli([...c.args, "--json"]);
        assert.equal(json.code, 1, dump(`${label} --json`, json));
        const e = errorDoc(json, `${label} --json`);
        assert.deepEqual(
          [e["kind"], e["op"], e["errno"], e["message"]],
          [c.kind, c.op, c.errno, c.message],
          `${label} --json`,
        );
        // stderr still says what went wrong
        assert.ok(json.stderr.startsWith(`error: ${c.message}\n`), label);
      }
      // unpin refused the file outside bpffs and left it alone.
      assert.ok((await Deno.stat(outside)).isFile, "the file is still there");
    } finally {
      await Deno.remove(outside);
    }
    assert.deepEqual(ls(b.path), [], "nothing was pinned");

    // The whole process: exit 1, the message, the hint, no stack trace.
    const launched = await bpfx(["show", missingPin]);
    assert.equal(launched.code, 1, dump("./bpfx show", launched));
    assert.equal(launched.stdout, "");
    assert.ok(
      launched.stderr.startsWith(
        `error: Cannot open pin "${missingPin}": no such file or directory\n`,
      ),
      launched.stderr,
    );
    noStack(launched.stderr, "./bpfx show");
  },
  { needs: [] },
);

kernelTest(
  "rule rm (and detach) that matches nothing says what it looked for and where, and exits 1",
  async () => {
    await using b = await privateBpffs();
    const state = await Deno.makeTempDir({ prefix: "bpfxstate-" });
    try {
      const typo = `${b.path}/egres`;
      const message =
        `Nothing to remove: no view or link under pin root "${typo}", and no rule for it in state directory "${state}"`;
      for (const verb of [["rule", "rm"], ["detach"]]) {
        const label = verb.join(" ");
        const o = await cli([...verb, "--pin-root", typo, "--state", state]);
        assert.equal(o.code, 1, dump(label, o));
        assert.equal(o.stdout, "", label);
        assert.ok(
          o.stderr.includes(`error: ${message}\n`) &&
            o.stderr.includes(`hint: \`bpfx rule ls --state ${state}\``),
          dump(label, o),
        );
        const json = await cli([
          ...verb,
          "--pin-root",
          typo,
          "--name",
          "egress",
          "--state",
          state,
          "--json",
        ]);
        assert.equal(json.code, 1, dump(`${label} --json`, json));
        const e = errorDoc(json, `${label} --json`);
        assert.deepEqual([e["kind"], e["op"], e["path"]], [
          "not-found",
          "detach",
          typo,
        ]);
        assert.match(String(e["message"]), /no view or link named "egress"/);
      }
      // It looked and made nothing.
      assert.deepEqual(ls(b.path), []);
    } finally {
      await Deno.remove(state, { recursive: true });
    }
  },
  { needs: [] },
);

// ---------------------------------------------------------------------------
// --json shapes

const PIN_ENTRY: Shape = {
  path: "string",
  kind: "string",
  id: "number",
  name: "string",
  type: "string",
};

kernelTest(
  "every command's --json output parses and has the documented shape",
  async () => {
    await using b = await privateBpffs();
    const dir = `${b.path}/h`;

    // load --json: the LoadReport
    const loaded = await cli([
      "load",
      HELLO,
      "--pin",
      dir,
      "--pin-by-name-root",
      b.path,
      "--json",
    ]);
    assert.equal(loaded.code, 0, dump("load --json", loaded));
    assert.equal(loaded.stderr, "");
    const report = hasShape(parse(loaded.stdout, "load --json"), {
      object: "string",
      pin_dir: "string",
      programs: "array",
      maps: "array",
      renamed: "array",
    }, "load --json");
    assert.equal(report["pin_dir"], dir);
    const programs = report["programs"] as unknown[];
    const maps = report["maps"] as unknown[];
    assert.equal(programs.length, 3);
    for (const p of programs) {
      hasShape(p, {
        name: "string",
        path: "string",
        id: "number",
        type: "string",
        tag: "string",
      }, "load program");
    }
    assert.ok(maps.length > 0);
    for (const m of maps) {
      hasShape(m, {
        name: "string",
        path: "string",
        id: "number",
        type: "string",
        pinning: "string",
        reused: "boolean",
      }, "load map");
    }
    for (const r of report["renamed"] as unknown[]) {
      hasShape(r, { from: "string", to: "string", why: "string" }, "renamed");
    }

    // ls --json: an array of PinEntry, the same as the API's
    const listed = await cli(["ls", b.path, "--json"]);
    assert.equal(listed.code, 0, dump("ls --json", listed));
    const entries = parse(listed.stdout, "ls --json");
    assert.ok(Array.isArray(entries), "ls --json is an array");
    assert.equal(entries.length, 7, listed.stdout);
    for (const e of entries) hasShape(e, PIN_ENTRY, "ls entry");
    assert.deepEqual(entries, ls(b.path));
    const ids = new Map(
      (entries as { path: string; id: number }[]).map((e) => [e.path, e.id]),
    );
    for (const p of programs as { path: string; id: number }[]) {
      assert.equal(ids.get(p.path), p.id, p.path);
    }
    const shallow = parse(
      (await cli(["ls", b.path, "--depth", "1", "--json"])).stdout,
      "ls --depth 1 --json",
    );
    assert.deepEqual(
      (shallow as { path: string }[]).map((e) => e.path),
      [`${b.path}/hello_total`],
    );
    // The table lists the same paths.
    const table = await cli(["ls", b.path]);
    assert.equal(table.code, 0, dump("ls", table));
    assert.match(table.stdout, /^PATH +KIND +ID +TYPE +NAME\n/);
    for (const e of entries as { path: string }[]) {
      assert.ok(table.stdout.includes(`${e.path} `), e.path);
    }

    // show --json: ObjectInfo of a program and of a map
    const prog = await cli(["show", `${dir}/count_exec`, "--json"]);
    assert.equal(prog.code, 0, dump("show prog --json", prog));
    const progInfo = hasShape(parse(prog.stdout, "show prog --json"), {
      path: "string",
      kind: "string",
      id: "number",
      name: "string",
      type: "string",
      tag: "string",
      loaded_at: "number|null",
      map_ids: "array",
      btf_id: "number",
      uid: "number",
      gpl_compatible: "boolean",
      bytes_xlated: "number",
      jited: "boolean",
      bytes_jited: "number",
    }, "show prog --json");
    assert.equal(progInfo["kind"], "prog");
    // The API's fields under bpftool's names (interop_test.ts compares the
    // values with bpftool's).
    const api = show(`${dir}/count_exec`);
    assert.equal(api.kind, "prog");
    if (api.kind === "prog") {
      assert.equal(progInfo["id"], api.id);
      assert.deepEqual(progInfo["map_ids"], api.mapIds);
      assert.equal(progInfo["bytes_xlated"], api.xlatedBytes);
      assert.equal(progInfo["bytes_jited"], api.jitedBytes);
      assert.equal(
        progInfo["loaded_at"],
        Math.floor(Date.parse(api.loadTime ?? "") / 1000),
      );
    }
    const map = await cli(["show", `${b.path}/hello_total`, "--json"]);
    assert.equal(map.code, 0, dump("show map --json", map));
    const mapInfo = hasShape(parse(map.stdout, "show map --json"), {
      path: "string",
      kind: "string",
      id: "number",
      name: "string",
      type: "string",
      bytes_key: "number",
      bytes_value: "number",
      max_entries: "number",
      flags: "number",
      btf_id: "number",
    }, "show map --json");
    assert.equal(mapInfo["kind"], "map");
    // and as text
    const progText = await cli(["show", `${dir}/count_exec`]);
    assert.equal(progText.code, 0, dump("show", progText));
    assert.match(progText.stdout, new RegExp(`^path +${dir}/count_exec\n`));
    assert.match(progText.stdout, new RegExp(`\ntag +${progInfo["tag"]}\n`));

    // inspect --json: the ObjectSpec
    const spec = await cli(["inspect", HELLO, "--json"]);
    assert.equal(spec.code, 0, dump("inspect --json", spec));
    const specDoc = hasShape(parse(spec.stdout, "inspect --json"), {
      path: "string",
      license: "string",
      kernel_version: "number|null",
      btf: "boolean",
      btf_ext: "boolean",
      programs: "array",
      maps: "array",
    }, "inspect --json");
    for (const p of specDoc["programs"] as unknown[]) {
      hasShape(p, {
        name: "string",
        section: "string",
        type: "string",
        attach_type: "string|null",
        attach_to: "string|null",
        instructions: "number",
      }, "inspect program");
    }
    for (const m of specDoc["maps"] as unknown[]) {
      hasShape(m, {
        name: "string",
        section: "string",
        type: "string",
        type_id: "number",
        bytes_key: "number",
        bytes_value: "number",
        max_entries: "number",
        flags: "number",
        pinning: "string",
      }, "inspect map");
    }
    // The API's ObjectSpec, in the command line's names.
    assert.deepEqual<unknown>(specDoc, cliJson(inspect(HELLO)));

    // unpin --json: {removed, kept}
    const one = await cli(["unpin", `${dir}/count_exec`, "--json"]);
    assert.equal(one.code, 0, dump("unpin --json", one));
    assert.deepEqual(parse(one.stdout, "unpin --json"), {
      removed: [`${dir}/count_exec`],
      kept: [],
    });
    const all = await cli(["unpin", "-r", b.path, "--json"]);
    assert.equal(all.code, 0, dump("unpin -r --json", all));
    const unpinned = hasShape(parse(all.stdout, "unpin -r --json"), {
      removed: "array",
      kept: "array",
    }, "unpin -r --json");
    assert.ok((unpinned["removed"] as string[]).includes(dir));
    assert.ok((unpinned["kept"] as string[]).includes(b.path));
    assert.deepEqual(ls(b.path), []);

    // doctor --json: checks array; exit 1 exactly when a check fails
    const doc = await cli(["doctor", "--json"]);
    const d = hasShape(parse(doc.stdout, "doctor --json"), {
      ok: "boolean",
      kernel: "string",
      checks: "array",
      bpffs: "array",
      cgroup2: "string|null",
      fixed: "array",
    }, "doctor --json");
    assert.equal(doc.code, d["ok"] ? 0 : 1, dump("doctor --json", doc));
    const checks = d["checks"] as unknown[];
    assert.ok(checks.length > 0);
    for (const c of checks) {
      hasShape(c, {
        name: "string",
        ok: "boolean",
        detail: "string",
        fix: "string|null",
        refused: "string|null",
      }, "doctor check");
    }
    assert.equal(
      d["ok"],
      checks.every((c) => (c as { ok: boolean }).ok),
      "ok is every check's ok",
    );
    assert.deepEqual(
      checks.map((c) => (c as { name: string }).name),
      doctor().checks.map((c) => c.name),
    );
    assert.deepEqual(d["fixed"], []);
  },
  { needs: ["iterator task"] },
);

// ---------------------------------------------------------------------------
// Completions

Deno.test(
  "completions bash|zsh|fish print scripts for bpfx; powershell is a usage error",
  async () => {
    for (const shell of ["bash", "zsh", "fish"]) {
      const o = await cli(["completions", shell]);
      assert.equal(o.code, 0, dump(`completions ${shell}`, o));
      assert.equal(o.stderr, "");
      assert.ok(o.stdout.length > 200, `${shell}: a script`);
      assert.match(
        o.stdout,
        new RegExp(`^# ${shell} completion for bpfx`, "m"),
      );
      if (shell === "zsh") assert.match(o.stdout, /^#compdef bpfx\n/);
      assert.match(o.stdout, /bpfx complete --/, `${shell}: calls back`);
      const json = await cli(["completions", shell, "--json"]);
      assert.equal(json.code, 0);
      assert.deepEqual(parse(json.stdout, `completions ${shell} --json`), {
        shell,
        script: o.stdout,
      });
    }
    const bad = await cli(["completions", "powershell"]);
    assert.equal(bad.code, 2, dump("completions powershell", bad));
    assert.equal(bad.stdout, "");
    assert.match(
      bad.stderr,
      /^error: command-argument value 'powershell' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish\.\nTry 'bpfx completions --help' for more information\.\n$/,
    );
  },
);

/** The subcommands `bpfx --help` lists, in its order. */
async function subcommands(): Promise<string[]> {
  const help = (await cli(["--help"])).stdout;
  const section = help.split("\nCommands:\n")[1]?.split("\n\n")[0] ?? "";
  const names = [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) =>
    m[1]!
  );
  for (
    const name of [
      "doctor",
      "inspect",
      "load",
      "ls",
      "show",
      "unpin",
      "completions",
      "help",
    ]
  ) {
    assert.ok(names.includes(name), `"${name}" in the help:\n${help}`);
  }
  return names;
}

Deno.test(
  "the bash script's callback, bpfx complete, offers the subcommands",
  async () => {
    // What the script runs for `bpfx <TAB>`: candidates, then a directive.
    const o = await bpfx(["complete", "--", ""]);
    assert.equal(o.code, 0, dump("./bpfx complete -- ''", o));
    const lines = o.stdout.trimEnd().split("\n");
    const names = await subcommands();
    assert.match(lines.at(-1) ?? "", /^:[0-9]+$/, "the directive");
    assert.deepEqual(
      lines.slice(0, -1).map((l) => l.split("\t")[0]),
      names,
    );
    const options = await bpfx(["complete", "--", "ls", "--"]);
    assert.deepEqual(
      options.stdout.split("\n").map((l) => l.split("\t")[0]).filter((w) =>
        w?.startsWith("--")
      ),
      ["--depth", "--json", "--pretty", "--help"],
    );

    // And the real bash script, with `bpfx` on PATH as the launcher.
    const bin = await Deno.makeTempDir({ prefix: "bpfxcli-" });
    try {
      await Deno.symlink(BPFX, `${bin}/bpfx`);
      const script = `
source <(bpfx completions bash) || exit 99
COMP_WORDS=(bpfx ""); COMP_CWORD=1; __bpfx_complete 2>/dev/null
printf '%s\\n' "\${COMPREPLY[@]}"
echo --
COMP_WORDS=(bpfx l); COMP_CWORD=1; __bpfx_complete 2>/dev/null
printf '%s\\n' "\${COMPREPLY[@]}"
`;
      const r = await run("bash", ["--norc", "--noprofile", "-c", script], {
        env: { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
      });
      assert.equal(r.code, 0, dump("bash", r));
      const [all, l] = r.stdout.split("--\n");
      assert.deepEqual(all?.trimEnd().split("\n"), names);
      assert.deepEqual(
        l?.trimEnd().split("\n"),
        names.filter((n) => n.startsWith("l")),
      );
    } finally {
      await Deno.remove(bin, { recursive: true });
    }
  },
);

// ---------------------------------------------------------------------------
// Whole process: no privileges, no bpffs, doctor --fix

/** setpriv arguments that run a command as nobody with no capabilities. */
const NOBODY = [
  "--reuid=65534",
  "--regid=65534",
  "--clear-groups",
  "--inh-caps=-all",
];

/**
 * Why user nobody cannot run the launcher, or null when it can. The launcher,
 * Deno and the sources live in the repository, so nobody must be able to
 * read it; copying them elsewhere would test another tree, so there is no
 * fallback: the test is skipped (or fails with BPFX_REQUIRE_KERNEL=1).
 */
async function nobodyGap(): Promise<string | null> {
  if (Deno.uid() !== 0) return "not running as root";
  try {
    const r = await run("setpriv", [...NOBODY, BPFX, "--version"], {
      cwd: "/",
    });
    if (r.code === 0 && r.stdout === `${VERSION}\n`) return null;
    return `user nobody cannot run "${BPFX}" (it must be able to read ` +
      `"${ROOT}"): exit ${r.code}: ${r.stderr.trim()}`;
  } catch (e) {
    return `cannot run setpriv: ${(e as Error).message}`;
  }
}

kernelTest(
  "without privileges, ls and load exit 1 with a CAP_BPF hint and pin nothing",
  async () => {
    await using b = await privateBpffs();
    // Something to list (as root).
    load(HELLO, { pinDir: `${b.path}/mine`, pinByNameRoot: b.path });
    const before = await tree(b.path);
    const asNobody = (args: string[]) =>
      run("setpriv", [...NOBODY, BPFX, ...args], {
        cwd: ROOT,
        env: { NO_COLOR: "1" },
      });

    const listed = await asNobody(["ls", b.path, "--json"]);
    assert.equal(listed.code, 1, dump("nobody: ls --json", listed));
    const e = errorDoc(listed, "nobody: ls --json");
    assert.equal(e["kind"], "permission");
    assert.equal(e["errno"], 13);
    assert.equal(e["path"], b.path);
    assert.match(String(e["hint"]), /CAP_BPF/);
    assert.match(
      listed.stderr,
      /^error: Cannot list ".*": permission denied\n/,
    );
    assert.match(listed.stderr, /hint: run as root, or with CAP_BPF/);
    noStack(listed.stderr, "nobody: ls");

    // With the by-name maps in the private bpffs too.
    const loaded = await asNobody([
      "load",
      "build/examples/hello.bpf.o",
      "--pin",
      `${b.path}/x`,
      "--pin-by-name-root",
      b.path,
      "--json",
    ]);
    assert.equal(loaded.code, 1, dump("nobody: load", loaded));
    const le = errorDoc(loaded, "nobody: load --json");
    assert.deepEqual([le["kind"], le["errno"]], ["permission", 1]);
    assert.match(String(le["hint"]), /CAP_BPF/);
    assert.match(
      loaded.stderr,
      /^error: Cannot load "build\/examples\/hello\.bpf\.o": .*(not permitted|permission denied)/i,
    );
    assert.match(loaded.stderr, /hint: run as root, or with CAP_BPF/);
    noStack(loaded.stderr, "nobody: load");
    assert.deepEqual(await tree(b.path), before, "nothing was pinned");

    // inspect needs no privileges.
    const inspected = await asNobody(["inspect", "build/examples/hello.bpf.o"]);
    assert.equal(inspected.code, 0, dump("nobody: inspect", inspected));

    // The command exactly as a user would type it: by-name maps go to
    // /sys/fs/bpf, so give it a bpffs there, in a private mount namespace
    // (the host's /sys/fs/bpf may not be mounted), and look at what is left.
    const ns = await inMountNamespace(
      `mount -t bpf bpf /sys/fs/bpf || exit 99
setpriv ${NOBODY.join(" ")} "$@"
rc=$?
echo "left: $(ls -A /sys/fs/bpf | tr '\\n' ' ')" >&2
exit $rc`,
      [
        "load",
        "build/examples/hello.bpf.o",
        "--pin",
        `${b.path}/x`,
      ],
    );
    assert.equal(ns.code, 1, dump("nobody: load (namespace)", ns));
    assert.match(
      ns.stderr,
      /^error: Cannot load "build\/examples\/hello\.bpf\.o"/,
    );
    assert.match(ns.stderr, /hint: run as root, or with CAP_BPF/);
    const left = ns.stderr.match(/^left: (.*)$/m)?.[1]?.trim().split(" ");
    assert.deepEqual(left?.sort(), ["maps.debug", "progs.debug"], ns.stderr);
    assert.deepEqual(await tree(b.path), before, "nothing was pinned");
  },
  { needs: ["iterator task"], gap: await nobodyGap() },
);

/**
 * Runs `bpfx ARGS` from the repository root in a private mount namespace,
 * through the shell `script`, which runs it as `"$@"`.
 */
function inMountNamespace(
  script: string,
  args: string[],
): ReturnType<typeof run> {
  return run("unshare", [
    "-m",
    "--propagation",
    "private",
    "sh",
    "-c",
    script,
    "sh",
    BPFX,
    ...args,
  ], { cwd: ROOT, env: { NO_COLOR: "1" } });
}

/** A shell command that unmounts every bpffs stacked on /sys/fs/bpf. */
const UMOUNT_SYS_FS_BPF =
  'while umount -R /sys/fs/bpf 2>/dev/null; do :; done; exec "$@"';

kernelTest(
  "with no bpffs at /sys/fs/bpf, load fails and points to bpfx doctor --fix",
  async () => {
    const o = await inMountNamespace(UMOUNT_SYS_FS_BPF, [
      "load",
      "build/examples/hello.bpf.o",
      "--pin",
      "/sys/fs/bpf/x",
      "--json",
    ]);
    assert.equal(o.code, 1, dump("load (no bpffs)", o));
    const e = errorDoc(o, "load (no bpffs) --json");
    assert.equal(e["kind"], "not-bpffs");
    assert.match(String(e["hint"]), /`bpfx doctor --fix`/);
    assert.match(o.stderr, /^error: Cannot pin at "\/sys\/fs\/bpf\/x": /);
    assert.match(o.stderr, /hint: .*bpfx doctor --fix/);
    noStack(o.stderr, "load (no bpffs)");
  },
  { needs: [] },
);

/**
 * The host's mounts, less the private bpffs of tests that may run alongside
 * (`deno test --parallel`).
 */
async function hostMounts(): Promise<string> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").filter((line) => !/ \S*\/bpfxtest-\S* /.test(line))
    .join("\n");
}

kernelTest(
  "doctor --fix in a private mount namespace mounts bpffs at /sys/fs/bpf and leaves the host alone",
  async () => {
    const before = await hostMounts();
    const o = await inMountNamespace(UMOUNT_SYS_FS_BPF, [
      "doctor",
      "--fix",
      "--json",
    ]);
    const report = hasShape(parse(o.stdout, "doctor --fix --json"), {
      ok: "boolean",
      checks: "array",
      bpffs: "array",
      fixed: "array",
    }, "doctor --fix --json");
    assert.equal(o.code, report["ok"] ? 0 : 1, dump("doctor --fix", o));
    assert.ok(
      (report["fixed"] as string[]).some((f) =>
        /mounted bpffs at \/sys\/fs\/bpf/.test(f)
      ),
      `fixed: ${JSON.stringify(report["fixed"])}`,
    );
    assert.ok((report["bpffs"] as string[]).includes("/sys/fs/bpf"));
    const bpffsCheck = (report["checks"] as { name: string; ok: boolean }[])
      .find((c) => c.name === "bpffs");
    assert.equal(bpffsCheck?.ok, true, "the bpffs check passes after --fix");
    assert.equal(
      await hostMounts(),
      before,
      "the host's mounts are unchanged",
    );
  },
  { needs: [] },
);

kernelTest(
  "bpfx view OBJ without :NAME names the object's iterator programs, and pins nothing",
  async () => {
    await using b = await privateBpffs();
    const tasks = `${ROOT}/build/examples/tasks.bpf.o`;
    const before = await tree(b.path); // a new bpffs may hold preload files
    const o = await cli(["view", tasks, `${b.path}/t`, "--pid", "1"]);
    assert.equal(o.code, 1, dump("view OBJ PIN", o));
    assert.equal(
      o.stderr,
      `error: Cannot use "${tasks}" as a program: it is an object file, not a pinned program\n` +
        `  hint: name one of its iterator programs: ${tasks}:tasks\n`,
    );
    assert.deepEqual(await tree(b.path), before);
    // With :NAME it works.
    const ok = await cli([
      "view",
      `${tasks}:tasks`,
      `${b.path}/t`,
      "--pid",
      "1",
    ]);
    assert.equal(ok.code, 0, dump("view OBJ:NAME PIN", ok));
  },
  { needs: ["iterator task parameters"] },
);

/** Whether `text` holds a control character other than tab and newline. */
function hasControl(text: string): boolean {
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === "\t" || ch === "\n") continue;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x202e) return true;
  }
  return false;
}

kernelTest(
  "ls, show and errors print names escaped: a name cannot send terminal escapes",
  async () => {
    await using b = await privateBpffs();
    const evil = `${b.path}/x\x1b[2Jy\u202e`;
    await Deno.mkdir(evil);
    const pin = `${evil}/m\x07`;
    await bpftoolMap(pin, "type array key 4 value 4 entries 1 name plain");
    const shown = `${b.path}/x\\x1b[2Jy\\u{202e}/m\\x07`;
    const ls = await cli(["ls", b.path]);
    assert.equal(ls.code, 0, dump("ls", ls));
    assert.ok(!hasControl(ls.stdout), ls.stdout);
    assert.ok(ls.stdout.includes(shown), ls.stdout);
    const show = await cli(["show", pin]);
    assert.ok(!hasControl(show.stdout), show.stdout);
    // JSON keeps the name exactly (JSON escapes it its own way).
    const json = JSON.parse((await cli(["ls", b.path, "--json"])).stdout);
    assert.ok(
      JSON.stringify(json).includes(JSON.stringify(pin).slice(1, -1)),
      JSON.stringify(json),
    );
    // An error naming it is escaped too.
    const gone = await cli(["show", `${evil}/nothing\x1b]0;pwned\x07`]);
    assert.equal(gone.code, 1);
    assert.ok(!hasControl(gone.stderr), gone.stderr);
  },
  { needs: [] },
);

kernelTest(
  "bpfx cat and openView() read views only: a file off bpffs, a pinned map or a FIFO is refused with a hint",
  async () => {
    await using b = await privateBpffs();
    const { openView } = await import("../mod.ts");
    const map = `${b.path}/m`;
    await bpftoolMap(map, "type array key 4 value 4 entries 1 name plain");
    const fifoDir = await Deno.makeTempDir({ prefix: "bpfxfifo-" });
    try {
      const fifo = `${fifoDir}/f`;
      assert.equal((await run("mkfifo", [fifo])).code, 0);
      const cases: [string, string][] = [
        ["/etc/passwd", "it is not on bpffs"],
        [map, "it is a map"],
        [fifo, "it is not on bpffs"],
      ];
      for (const [path, why] of cases) {
        const o = await cli(["cat", path]);
        assert.equal(o.code, 1, dump(`cat ${path}`, o));
        assert.equal(o.stdout, "", `cat ${path} printed nothing`);
        assert.equal(
          o.stderr,
          `error: Cannot read "${path}": ${why}, not a view\n` +
            "  hint: bpfx cat reads views, pinned BPF iterators (make one with `bpfx view`); read other files with cat\n",
        );
        let kind = "";
        try {
          openView(path).close();
        } catch (e) {
          kind = (e as { kind: string }).kind;
        }
        assert.equal(kind, "wrong-kind", `openView(${path})`);
      }
      // A view, and a symlink to one, read as before.
      const view = `${b.path}/v`;
      const tasks = `${ROOT}/build/examples/tasks.bpf.o`;
      assert.equal(
        (await cli(["view", `${tasks}:tasks`, view, "--pid", "2"])).code,
        0,
      );
      const link = `${fifoDir}/link`;
      await Deno.symlink(view, link);
      const ok = await cli(["cat", link]);
      assert.equal(ok.code, 0, dump("cat link", ok));
      assert.match(ok.stdout, /tid +tgid/);
    } finally {
      await Deno.remove(fifoDir, { recursive: true });
    }
  },
  { needs: ["iterator task parameters"] },
);
