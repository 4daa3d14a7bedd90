// bpftool interop, both ways, on real third-party objects from Debian's
// xdp-tools package.
import { attachLink, createView, load, ls, show } from "../mod.ts";
import { main } from "../cli.ts";
import {
  assert,
  bpftoolJson,
  captureIo,
  kernelTest,
  privateBpffs,
  ROOT,
  run,
  XDP_DIR,
} from "./_kernel.ts";

const TASKS = `${ROOT}/build/examples/tasks.bpf.o`;

kernelTest(
  "what bpfx loads and pins, bpftool shows with the same ids",
  async () => {
    await using b = await privateBpffs();
    for (
      const obj of [
        "xdpfilt_alw_all.o",
        "xdpfilt_dny_tcp.o",
        "xsk_def_xdp_prog.o",
        "xdp-dispatcher.o",
      ]
    ) {
      const dir = `${b.path}/${obj.replace(/[.-]/g, "_")}`;
      const r = load(`${XDP_DIR}/${obj}`, {
        pinDir: dir,
        pinByNameRoot: b.path,
      });
      assert.ok(r.programs.length > 0, obj);
      for (const p of r.programs) {
        const t = await bpftoolJson(["prog", "show", "pinned", p.path]);
        assert.equal(t["id"], p.id, `${obj} ${p.name}`);
        assert.equal(t["tag"], p.tag, `${obj} ${p.name}`);
        assert.equal(t["type"], p.type, `${obj} ${p.name}`);
      }
      for (const m of r.maps) {
        const t = await bpftoolJson(["map", "show", "pinned", m.path]);
        assert.equal(t["id"], m.id, `${obj} ${m.name}`);
        assert.equal(t["type"], m.type, `${obj} ${m.name}`);
      }
    }
    // The second filter object reused the first one's by-name maps.
    const listed = ls(b.path, { depth: 1 });
    assert.deepEqual(
      listed.map((e) => e.name).sort(),
      [
        "filter_ethernet",
        "filter_ipv4",
        "filter_ipv6",
        "filter_ports",
        "xdp_stats_map",
      ],
    );
  },
  { needs: [] },
);

kernelTest(
  "what bpftool prog loadall pins, bpfx ls lists with the right kinds and ids",
  async () => {
    await using b = await privateBpffs();
    const obj = `${XDP_DIR}/xdp-dispatcher.o`;
    const r = await run("bpftool", [
      "prog",
      "loadall",
      obj,
      `${b.path}/progs`,
      "pinmaps",
      `${b.path}/maps`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const listed = ls(b.path);
    const progs = listed.filter((e) => e.kind === "prog");
    const maps = listed.filter((e) => e.kind === "map");
    assert.deepEqual(progs.map((e) => e.path), [
      `${b.path}/progs/xdp_dispatcher`,
      `${b.path}/progs/xdp_pass`,
    ]);
    assert.equal(maps.length, 1, JSON.stringify(listed));
    for (const e of listed) {
      const kind = e.kind === "prog" ? "prog" : "map";
      const t = await bpftoolJson([kind, "show", "pinned", e.path]);
      assert.equal(t["id"], e.id, e.path);
      assert.equal(t["type"], e.type, e.path);
    }
  },
  { needs: [] },
);

kernelTest(
  "a link pinned by bpftool is listed and shown as a link with its target",
  async () => {
    await using b = await privateBpffs();
    const r = await run("bpftool", ["iter", "pin", TASKS, `${b.path}/tasks`]);
    assert.equal(r.code, 0, r.stderr);
    const [entry] = ls(b.path);
    assert.equal(entry?.kind, "link");
    assert.equal(entry?.type, "iter");
    const t = await bpftoolJson(["link", "show", "pinned", `${b.path}/tasks`]);
    assert.equal(entry?.id, t["id"]);
    const info = show(`${b.path}/tasks`);
    assert.ok(info.kind === "link");
    assert.equal(info.progId, t["prog_id"]);
    assert.deepEqual(info.target, { iter: "task", tid: 0, pid: 0 });
  },
  { needs: ["iterator task"] },
);

/** `bpfx ARGS -j`, in-process: its JSON. */
async function bpfxJson(args: string[]): Promise<unknown> {
  const io = captureIo();
  const code = await main([...args, "-j"], { io });
  assert.equal(code, 0, `bpfx ${args.join(" ")}: ${io.stderr()}`);
  return JSON.parse(new TextDecoder().decode(io.stdout()));
}

/**
 * bpftool's fields that bpfx's JSON leaves out or may give another value:
 * counters that move between the two reads, what bpftool finds in its own
 * process (`pids`, the fdinfo of the fd it opened: `bytes_memlock`,
 * `frozen`), and what docs/api.md says bpfx does not give.
 */
const NOT_COMPARED = new Set([
  "run_time_ns",
  "run_cnt",
  "recursion_misses",
  "pids",
  "bytes_memlock",
  "frozen",
  "orphaned",
]);

kernelTest(
  "show -j and ls -j give bpftool's fields, with bpftool's values, for programs, maps and links of several types",
  async () => {
    await using b = await privateBpffs();
    const links = load(`${ROOT}/build/tests/links.bpf.o`, {
      pinDir: `${b.path}/p`,
      pinByNameRoot: b.path,
    });
    const tasks = load(TASKS, { pinDir: `${b.path}/t`, pinByNameRoot: b.path });
    attachLink(`${b.path}/p/raw_tp_count`, {
      to: "sys_enter",
      pin: `${b.path}/raw`,
    });
    attachLink(`${b.path}/p/perf_count`, {
      to: "software:cpu-clock",
      cpu: 0,
      pin: `${b.path}/perf`,
    });
    attachLink(`${b.path}/p/uprobe_count`, {
      to: `${ROOT}/build/tests/link_target:bpfx_probed`,
      pin: `${b.path}/uprobe`,
    });
    createView(`${TASKS}:tasks`, { pin: `${b.path}/view` });
    const pins = [
      ...links.programs.map((p) => p.path),
      ...tasks.programs.map((p) => p.path),
      ...links.maps.map((m) => m.path),
      ...tasks.maps.map((m) => m.path),
      `${b.path}/raw`,
      `${b.path}/perf`,
      `${b.path}/uprobe`,
      `${b.path}/view`,
    ];
    const kinds = new Map<string, Set<string>>();
    const listed = await bpfxJson(["ls", b.path]) as Record<string, unknown>[];
    for (const pin of pins) {
      const ours = await bpfxJson(["show", pin]) as Record<string, unknown>;
      const kind = String(ours["kind"]);
      const theirs = await bpftoolJson([kind, "show", "pinned", pin]);
      if (!kinds.has(kind)) kinds.set(kind, new Set());
      kinds.get(kind)!.add(String(theirs["type"]));
      for (const [key, value] of Object.entries(theirs)) {
        if (NOT_COMPARED.has(key)) continue;
        assert.ok(
          key in ours,
          `${pin}: bpfx has no ${key} (bpftool: ${value})`,
        );
        if (key === "loaded_at") {
          // Both reckon the wall-clock time from the time since boot, each
          // with its own clock readings: a second apart at most.
          const diff = Math.abs(Number(ours[key]) - Number(value));
          assert.ok(diff <= 1, `${pin}: loaded_at ${ours[key]} vs ${value}`);
          continue;
        }
        assert.deepEqual(ours[key], value, `${pin}: ${key}`);
      }
      // ls -j lists it with the same id, name and type.
      const entry = listed.find((e) => e["path"] === pin);
      assert.ok(entry !== undefined, `ls -j lists ${pin}`);
      for (const key of ["id", "type", "name"]) {
        if (key in theirs) assert.equal(entry[key], theirs[key], `ls ${pin}`);
      }
    }
    // Several types of each kind were compared.
    assert.deepEqual(
      [...kinds.keys()].sort(),
      ["link", "map", "prog"],
    );
    for (const [kind, types] of kinds) {
      assert.ok(types.size >= 2, `${kind}: ${[...types]}`);
    }
  },
  { needs: ["iterator task", "link uprobe"] },
);
