// Every command's JSON is in bpftool's style: snake_case keys (bpftool's
// names where bpftool shows the same object), never the API's camelCase.
// Each command of the table that takes --json is run here, in-process, on
// a private bpffs, cgroup subtree and state directory, and every key of
// what it prints is walked.
import { COMMANDS, main } from "../cli.ts";
import type { Command } from "../cli/_table.ts";
import { asData, cliJson } from "../cli/output.ts";
import {
  assert,
  captureIo,
  HELLO,
  kernelTest,
  privateBpffs,
  privateCgroups,
  privateState,
  ROOT,
  tempDir,
} from "./_kernel.ts";

const TASKS = `${ROOT}/build/examples/tasks.bpf.o`;
const CGSTAT = `${ROOT}/build/examples/cgstat.bpf.o`;
const CGROUP_PROGS = `${ROOT}/build/tests/cgroup_progs.bpf.o`;
const LINKS = `${ROOT}/build/tests/links.bpf.o`;
const SECTIONS = `${ROOT}/build/tests/sections.bpf.o`;

/** Each key of `value` that has an upper-case letter, as `path.key`. */
function camelKeys(value: unknown, at = ""): string[] {
  if (typeof value !== "object" || value === null) return [];
  if (Array.isArray(value)) {
    return value.flatMap((v, i) => camelKeys(v, `${at}[${i}]`));
  }
  return Object.entries(value).flatMap(([k, v]) => [
    ...(/[A-Z]/.test(k) ? [`${at}.${k}`] : []),
    ...camelKeys(v, `${at}.${k}`),
  ]);
}

/** Every command path of the table (`["rule", "add"]`), hidden ones too. */
function leaves(commands: readonly Command[], path: string[] = []): string[] {
  return commands.flatMap((c) =>
    c.kind === "leaf"
      ? [[...path, c.name].join(" ")]
      : leaves(c.commands, [...path, c.name])
  );
}

Deno.test("cliJson() makes keys snake_case with bpftool's names, and keeps data and values", () => {
  assert.deepEqual(
    cliJson({
      keySize: 4,
      valueSize: 8,
      xlatedBytes: 1,
      mapIds: [1, 2],
      target: { attachType: "egress", cgroupId: 7 },
      list: [{ pinRoot: "/x", name: "camelValue" }],
      gone: undefined,
      none: null,
      formatted: asData({ fieldName: { innerName: 1 } }),
    }),
    {
      bytes_key: 4,
      bytes_value: 8,
      bytes_xlated: 1,
      map_ids: [1, 2],
      target: { attach_type: "egress", cgroup_id: 7 },
      list: [{ pin_root: "/x", name: "camelValue" }],
      none: null,
      formatted: { fieldName: { innerName: 1 } },
    },
  );
});

/** What one command printed on standard output, as JSON documents. */
interface Printed {
  command: string;
  code: number;
  docs: unknown[];
}

kernelTest(
  "every command's JSON has snake_case keys only (bpftool's style)",
  async () => {
    await using b = await privateBpffs();
    await using state = await privateState();
    await using cg = await privateCgroups();
    await using dir = await tempDir("bpfxjson-");
    await cg.make("web/front");
    const S = ["--state", state.path];
    const printed: Printed[] = [];
    const ran = new Set<string>();
    /** Runs `bpfx ARGS -j` and keeps its documents; `lines`: one per line. */
    const bpfx = async (
      command: string,
      args: string[],
      options: {
        code?: number | "any";
        lines?: boolean;
        signal?: AbortSignal;
      } = {},
    ): Promise<unknown[]> => {
      const io = captureIo();
      const code = await main([...args, "-j"], {
        io,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const text = new TextDecoder().decode(io.stdout());
      if (options.code !== "any") {
        assert.equal(
          code,
          options.code ?? 0,
          `bpfx ${args.join(" ")}: ${io.stderr()}`,
        );
      }
      const docs = options.lines
        ? text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
        : [JSON.parse(text)];
      printed.push({ command: args.join(" "), code, docs });
      ran.add(command);
      return docs;
    };

    await bpfx("help", ["help"]);
    await bpfx("help", ["rule", "add", "--help"]);
    await bpfx("version", ["--version"]);
    // doctor exits 1 when a check fails (no bpffs at /sys/fs/bpf, here).
    await bpfx("doctor", ["doctor"], { code: "any" });
    await bpfx("inspect", ["inspect", HELLO]);
    await bpfx("inspect", ["inspect", LINKS]);
    await bpfx("load", [
      "load",
      HELLO,
      "--pin",
      `${b.path}/hello`,
      "--pin-by-name-root",
      b.path,
    ]);
    await bpfx("load", ["load", LINKS, "--pin", `${b.path}/links`]);
    await bpfx("load", [
      "load",
      SECTIONS,
      "--pin",
      `${b.path}/sections`,
      "--only",
      "write_ctx_to_map",
    ]);
    await bpfx("run", [
      "run",
      `${b.path}/sections/write_ctx_to_map`,
      "--ctx",
      "010000000000000001000000000000000000000000000000",
    ]);
    await bpfx("ls", ["ls", b.path]);
    await bpfx("show", ["show", `${b.path}/hello/count_exec`]);
    await bpfx("show", ["show", `${b.path}/hello_total`]);
    await bpfx("view", ["view", `${TASKS}:tasks`, `${b.path}/tasks`]);
    await bpfx("view", [
      "view",
      `${CGSTAT}:cgstat`,
      `${b.path}/cgstat`,
      "--cgroup",
      cg.root,
    ]);
    await bpfx("show", ["show", `${b.path}/cgstat`]);
    await bpfx("cat", ["cat", `${b.path}/cgstat`]);
    await bpfx("attach", [
      "attach",
      `${b.path}/links/raw_tp_count`,
      "--to",
      "sys_enter",
      "--pin",
      `${b.path}/getppid`,
    ]);
    await bpfx("show", ["show", `${b.path}/getppid`]);
    await bpfx("rule add", [
      "rule",
      "add",
      `${CGSTAT}:cgstat`,
      "--cgroup-root",
      cg.root,
      "--pin-root",
      `${b.path}/views`,
      "--expose-root",
      `${dir.path}/views`,
      "--name",
      "cgstat",
      ...S,
    ]);
    await bpfx("rule add", [
      "rule",
      "add",
      `${CGROUP_PROGS}:egress_count`,
      "--cgroup-root",
      cg.root,
      "--pin-root",
      `${b.path}/egress`,
      "--name",
      "egress",
      "--depth",
      "1",
      ...S,
    ]);
    await bpfx("rule ls", ["rule", "ls", ...S]);
    await bpfx("expose", [
      "expose",
      `${b.path}/tasks`,
      `${dir.path}/tasks`,
      ...S,
    ]);
    await bpfx("expose", [
      "expose",
      `${b.path}/hello_total`,
      `${dir.path}/made/total`,
      "--parents",
      "--bind",
      ...S,
    ]);
    await bpfx("exposures", ["exposures", ...S]);
    await bpfx("unexpose", ["unexpose", `${dir.path}/made/total`, ...S]);

    // The watcher: an unpinned exposure's pin is an action line.
    const stop = new AbortController();
    const watching = bpfx("watch", ["watch", ...S], {
      lines: true,
      signal: stop.signal,
    });
    await new Promise((r) => setTimeout(r, 500));
    await bpfx("unpin", ["unpin", `${b.path}/tasks`]);
    await new Promise((r) => setTimeout(r, 500));
    stop.abort();
    const watched = await watching;
    assert.ok(
      watched.length > 0,
      "the watcher printed no action for the unpinned exposure",
    );

    // The metrics server: where it listens, as one line.
    const stopServe = new AbortController();
    const serving = bpfx("serve", ["serve", "--listen", "127.0.0.1:0", ...S], {
      lines: true,
      signal: stopServe.signal,
    });
    await new Promise((r) => setTimeout(r, 500));
    stopServe.abort();
    const served = await serving;
    assert.match(
      String((served[0] as { url?: string } | undefined)?.url),
      /^http:\/\/127\.0\.0\.1:[0-9]+\/metrics$/,
    );

    // Maps.
    const total = `${b.path}/hello_total`;
    await bpfx("map set", ["map", "set", total, "0", "7"]);
    await bpfx("map get", ["map", "get", total, "0"]);
    await bpfx("map dump", ["map", "dump", total]);
    await bpfx("map delete", [
      "map",
      "delete",
      `${b.path}/hello/maps/exec_counts`,
      "1",
    ], { code: 1 });

    // The desired state.
    const file = `${dir.path}/host.yaml`;
    await Deno.writeTextFile(
      file,
      [
        "name: jsontest",
        "objects:",
        "  - name: tasks",
        `    path: ${TASKS}`,
        `    pinDir: ${b.path}/desired`,
        "",
      ].join("\n"),
    );
    await bpfx("plan", ["plan", file, ...S], { code: 2 });
    await bpfx("apply", ["apply", file, ...S]);
    await Deno.writeTextFile(file, "name: jsontest\n");
    await bpfx("apply", ["apply", file, ...S]);

    await bpfx("rule rm", [
      "rule",
      "rm",
      "--pin-root",
      `${b.path}/views`,
      "--expose-root",
      `${dir.path}/views`,
      ...S,
    ]);
    await bpfx("rule rm", [
      "rule",
      "rm",
      "--pin-root",
      `${b.path}/egress`,
      ...S,
    ]);
    await bpfx("unpin", ["unpin", "-r", `${b.path}/hello`]);
    await bpfx("completions", ["completions", "bash"]);
    // A failure's document.
    await bpfx("show", ["show", `${b.path}/nothing`], { code: 1 });
    await bpfx("load", ["load", HELLO], { code: 2 });

    const found = printed.flatMap((p) =>
      p.docs.flatMap((d) => camelKeys(d).map((k) => `bpfx ${p.command}: ${k}`))
    );
    assert.deepEqual(found, [], "camelCase keys in the CLI's JSON");

    // Every command of the table was run here, or is named with why not.
    const NOT_RUN: Record<string, string> = {
      "complete": "hidden: the shells' completion hook, which prints words",
      "map push": "the maps' printer, run by map set, get and dump",
      "map pop": "the maps' printer, run by map set, get and dump",
      "map peek": "the maps' printer, run by map set, get and dump",
      "map watch": "the maps' printer, run by map set, get and dump",
    };
    const missing = leaves(COMMANDS).filter((c) =>
      !ran.has(c) && NOT_RUN[c] === undefined
    );
    assert.deepEqual(
      missing,
      [],
      "commands whose JSON this test does not walk",
    );
  },
  {
    needs: [
      "iterator task",
      "iterator cgroup",
      "iterator cgroup parameters",
      "cgroup2",
      "fanotify bpffs",
      "fanotify cgroupfs",
      "link cgroup",
    ],
  },
);
