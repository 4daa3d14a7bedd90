// bpftool interop, both ways, on real third-party objects from Debian's
// xdp-tools package.
import { load, ls, show } from "../mod.ts";
import {
  assert,
  bpftoolJson,
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
