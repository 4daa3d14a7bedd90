// Load, pin, list, show, open and unpin through the API, against the real
// kernel, each test in its own private bpffs.
import {
  inspect,
  load,
  ls,
  openMap,
  openPin,
  openProgram,
  show,
  unpin,
} from "../mod.ts";
import {
  assert,
  bpftoolJson,
  bpftoolMap,
  caught,
  HELLO,
  kernelTest,
  privateBpffs,
  ROOT,
  tree,
  XDP_DIR,
} from "./_kernel.ts";

kernelTest(
  "load() pins programs, maps and by-name maps where it says, and ls() lists them",
  async () => {
    await using b = await privateBpffs();
    const r = load(HELLO, { pinDir: `${b.path}/hello`, pinByNameRoot: b.path });
    assert.deepEqual(
      r.programs.map((p) => [p.name, p.path]),
      [
        ["count_exec", `${b.path}/hello/count_exec`],
        ["count_unlink", `${b.path}/hello/count_unlink`],
        ["dump_task", `${b.path}/hello/dump_task`],
      ],
    );
    const maps = Object.fromEntries(r.maps.map((m) => [m.name, m]));
    assert.equal(maps["exec_counts"]?.path, `${b.path}/hello/maps/exec_counts`);
    assert.equal(maps[".rodata"]?.path, `${b.path}/hello/maps/_rodata`);
    assert.equal(maps["hello_total"]?.path, `${b.path}/hello_total`);
    assert.equal(maps["hello_total"]?.pinning, "by-name");
    assert.deepEqual(r.renamed.map((x) => [x.from, x.to]), [[
      ".rodata",
      `${b.path}/hello/maps/_rodata`,
    ]]);

    const listed = ls(b.path);
    assert.equal(listed.length, 7, JSON.stringify(listed));
    for (const e of listed) {
      const info = show(e.path);
      assert.equal(e.id, info.id);
      assert.equal(e.kind, info.kind);
      assert.ok(e.id > 0);
    }
    assert.deepEqual(
      listed.filter((e) => e.kind === "prog").map((e) => e.type).sort(),
      ["kprobe", "tracepoint", "tracing"],
    );
    // --depth 1: only the directory's own entries (the by-name map).
    assert.deepEqual(ls(b.path, { depth: 1 }).map((e) => e.path), [
      `${b.path}/hello_total`,
    ]);
    // ids agree with what the load reported
    const byPath = new Map(listed.map((e) => [e.path, e.id]));
    for (const p of r.programs) assert.equal(byPath.get(p.path), p.id);
    for (const m of r.maps) assert.equal(byPath.get(m.path), m.id);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "show() gives a program's tag and map ids, and a map's sizes",
  async () => {
    await using b = await privateBpffs();
    const r = load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: b.path });
    const prog = show(`${b.path}/h/count_exec`);
    assert.equal(prog.kind, "prog");
    if (prog.kind !== "prog") return;
    assert.match(prog.tag, /^[0-9a-f]{16}$/);
    assert.equal(
      prog.tag,
      r.programs.find((p) => p.name === "count_exec")?.tag,
    );
    assert.ok(
      prog.loadTime !== null && !Number.isNaN(Date.parse(prog.loadTime)),
    );
    const total = r.maps.find((m) => m.name === "hello_total")!;
    const counts = r.maps.find((m) => m.name === "exec_counts")!;
    assert.ok(
      prog.mapIds.includes(total.id) && prog.mapIds.includes(counts.id),
    );
    const map = show(counts.path);
    assert.equal(map.kind, "map");
    if (map.kind !== "map") return;
    assert.deepEqual([map.type, map.keySize, map.valueSize, map.maxEntries], [
      "hash",
      4,
      8,
      10240,
    ]);
    assert.ok(map.btfId > 0);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "load() refuses a name already in use and changes nothing",
  async () => {
    await using b = await privateBpffs();
    load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: b.path });
    const before = ls(b.path);
    const e = caught(() =>
      load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: b.path })
    );
    assert.ok(e instanceof Deno.errors.AlreadyExists, e.constructor.name);
    assert.equal(e.kind, "exists");
    assert.match(
      e.message,
      /^Cannot pin program "count_exec" at ".*\/h\/count_exec": the name is already in use$/,
    );
    assert.deepEqual(ls(b.path), before);
  },
  { needs: ["iterator task"] },
);

kernelTest("a second object reuses a compatible by-name map", async () => {
  await using b = await privateBpffs();
  const one = load(HELLO, { pinDir: `${b.path}/one`, pinByNameRoot: b.path });
  const two = load(HELLO, { pinDir: `${b.path}/two`, pinByNameRoot: b.path });
  const m1 = one.maps.find((m) => m.name === "hello_total")!;
  const m2 = two.maps.find((m) => m.name === "hello_total")!;
  assert.equal(m1.reused, false);
  assert.equal(m2.reused, true);
  assert.equal(m1.id, m2.id);
  const p = show(`${b.path}/two/count_exec`);
  assert.ok(p.kind === "prog" && p.mapIds.includes(m1.id));
}, { needs: ["iterator task"] });

kernelTest(
  "load() refuses an incompatible by-name map, naming the field, and leaves nothing",
  async () => {
    await using b = await privateBpffs();
    // A map of the same name but another value size, made by bpftool.
    await bpftoolMap(
      `${b.path}/hello_total`,
      "type array key 4 value 4 entries 1 name hello_total",
    );
    const before = await tree(b.path);
    const e = caught(() =>
      load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: b.path })
    );
    assert.equal(e.kind, "incompatible");
    assert.match(
      e.message,
      /Cannot reuse map "hello_total" pinned at ".*": its value size is 4, the object's is 8/,
    );
    assert.deepEqual(await tree(b.path), before);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "a load that fails half-way removes every pin and directory it made",
  async () => {
    await using b = await privateBpffs();
    // Put a program pin where the load wants its maps directory.
    load(`${XDP_DIR}/xdp-dispatcher.o`, { pinDir: `${b.path}/a` });
    await Deno.mkdir(`${b.path}/b`);
    await Deno.rename(`${b.path}/a/xdp_pass`, `${b.path}/b/maps`);
    const before = await tree(b.path);
    const e = caught(() =>
      load(HELLO, { pinDir: `${b.path}/b`, pinByNameRoot: b.path })
    );
    assert.ok(e.message.length > 0);
    // hello_total was pinned by name during the load; it must be gone again.
    assert.deepEqual(await tree(b.path), before);

    // And a verifier/attach failure (xdpdump's fentry/func has no target).
    const e2 = caught(() =>
      load(`${XDP_DIR}/xdpdump_bpf.o`, {
        pinDir: `${b.path}/d`,
        pinByNameRoot: b.path,
      })
    );
    assert.match(
      e2.message,
      /^Cannot load program "trace_on_(entry|exit)" \(section "fe(ntry|xit)\/func"\)/,
    );
    assert.deepEqual(await tree(b.path), before);
  },
  { needs: ["iterator task"] },
);

// Trampoline programs, each where the kernel takes that kind: the gate's
// minimal program of the kind (tests/bpf/), loaded by bpfx this time.
for (
  const [kind, type] of [
    ["fentry", "tracing"],
    ["fexit", "tracing"],
    ["lsm", "lsm"],
  ] as const
) {
  kernelTest(
    `load() pins a ${kind} program as bpftool shows it, attached to nothing`,
    async () => {
      await using b = await privateBpffs();
      const r = load(`${ROOT}/build/tests/${kind}.bpf.o`, {
        pinDir: `${b.path}/t`,
        pinByNameRoot: b.path,
      });
      assert.equal(r.programs.length, 1);
      const prog = r.programs[0]!;
      const info = show(prog.path);
      assert.ok(info.kind === "prog");
      assert.equal(info.type, type);
      const seen = await bpftoolJson<{ id: number; type: string }>([
        "prog",
        "show",
        "pinned",
        prog.path,
      ]);
      assert.deepEqual([seen.id, seen.type], [info.id, type]);
    },
    { needs: [`trampoline ${kind}`] },
  );
}

kernelTest(
  "load() refuses pin paths off bpffs and names bpffs cannot take",
  async () => {
    await using b = await privateBpffs();
    const tmp = await Deno.makeTempDir({ prefix: "bpfxoff-" });
    try {
      const e = caught(() =>
        load(HELLO, { pinDir: `${tmp}/x`, pinByNameRoot: b.path })
      );
      assert.equal(e.kind, "not-bpffs");
      assert.equal(
        e.message,
        `Cannot pin at "${tmp}/x": "${tmp}" is not on bpffs`,
      );
      assert.deepEqual([...Deno.readDirSync(tmp)], []);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
    const dotted = caught(() =>
      load(HELLO, { pinDir: `${b.path}/v1.2`, pinByNameRoot: b.path })
    );
    assert.equal(dotted.kind, "invalid");
    assert.match(dotted.message, /bpffs refuses '\.' in names/);
    // by-name maps default to /sys/fs/bpf; a by-name root off bpffs is refused
    const off = caught(() =>
      load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: "/tmp" })
    );
    assert.equal(off.kind, "not-bpffs");
    assert.match(off.hint ?? "", /--pin-by-name-root/);
    assert.deepEqual(ls(b.path), []);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "inspect() and load() refuse missing, truncated and non-BPF files",
  async () => {
    await using b = await privateBpffs();
    const missing = caught(() => inspect("/nonexistent/x.o"));
    assert.ok(missing instanceof Deno.errors.NotFound);
    assert.equal(
      missing.message,
      `Cannot read BPF object "/nonexistent/x.o": no such file or directory`,
    );
    const tmp = await Deno.makeTempFile({ suffix: ".o" });
    try {
      const bytes = await Deno.readFile(HELLO);
      await Deno.writeFile(tmp, bytes.subarray(0, 1000));
      const trunc = caught(() => inspect(tmp));
      assert.equal(trunc.kind, "elf");
      assert.match(trunc.message, /not a valid ELF file/);
      const trunc2 = caught(() => load(tmp, { pinDir: `${b.path}/t` }));
      assert.equal(trunc2.kind, "elf");
      const notBpf = caught(() => inspect("/bin/true"));
      assert.equal(notBpf.kind, "elf");
      assert.match(notBpf.message, /not for BPF/);
    } finally {
      await Deno.remove(tmp);
    }
    assert.deepEqual(ls(b.path), []);
  },
  { needs: ["iterator task"] },
);

kernelTest("inspect() describes an object with no privileges needed", () => {
  const spec = inspect(`${XDP_DIR}/xdpfilt_alw_all.o`);
  assert.equal(spec.license, "GPL");
  assert.equal(spec.btf, true);
  assert.deepEqual(
    spec.programs.map((p) => [p.name, p.section, p.type, p.attachType]),
    [
      ["xdpfilt_alw_all", "xdp", "xdp", "xdp"],
    ],
  );
  const ports = spec.maps.find((m) => m.name === "filter_ports")!;
  assert.deepEqual(
    [
      ports.type,
      ports.keySize,
      ports.valueSize,
      ports.maxEntries,
      ports.pinning,
    ],
    ["percpu_array", 4, 8, 65536, "by-name"],
  );
  const hello = inspect(HELLO);
  const iter = hello.programs.find((p) => p.name === "dump_task")!;
  assert.deepEqual([iter.section, iter.type, iter.attachType, iter.attachTo], [
    "iter/task",
    "tracing",
    "trace_iter",
    "task",
  ]);
}, { needs: [] });

kernelTest(
  "show() and unpin() of a missing pin are NotFound; unpin() refuses paths off bpffs",
  async () => {
    await using b = await privateBpffs();
    const e = caught(() => show(`${b.path}/nope`));
    assert.ok(e instanceof Deno.errors.NotFound);
    assert.equal(e.op, "BPF_OBJ_GET");
    assert.equal(e.errno, 2);
    const u = caught(() => unpin(`${b.path}/nope`));
    assert.ok(u instanceof Deno.errors.NotFound);
    const tmp = await Deno.makeTempFile();
    try {
      const off = caught(() => unpin(tmp));
      assert.equal(off.kind, "not-bpffs");
      assert.ok((await Deno.stat(tmp)).isFile, "the file is still there");
    } finally {
      await Deno.remove(tmp);
    }
  },
  { needs: [] },
);

kernelTest(
  "unpin() removes a directory only with recursive, and keeps the preloaded files",
  async () => {
    await using b = await privateBpffs();
    load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: b.path });
    const dir = caught(() => unpin(`${b.path}/h`));
    assert.equal(dir.kind, "invalid");
    assert.match(dir.hint ?? "", /--recursive/);
    const one = unpin(`${b.path}/h/count_exec`);
    assert.deepEqual(one.removed, [`${b.path}/h/count_exec`]);
    const r = unpin(b.path, { recursive: true });
    assert.ok(r.removed.includes(`${b.path}/h`));
    assert.ok(r.removed.includes(`${b.path}/hello_total`));
    assert.ok(r.kept.includes(b.path), "the mount root stays");
    assert.deepEqual(ls(b.path), []);
    const left = [...Deno.readDirSync(b.path)].map((e) => e.name).sort();
    for (const name of left) {
      assert.ok(["maps.debug", "progs.debug"].includes(name), name);
    }
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "openPin() gives typed handles; the wrong kind is refused; close() is safe twice",
  async () => {
    await using b = await privateBpffs();
    const r = load(HELLO, { pinDir: `${b.path}/h`, pinByNameRoot: b.path });
    const progPath = `${b.path}/h/dump_task`;
    {
      using prog = openProgram(progPath);
      assert.equal(prog.kind, "prog");
      assert.equal(prog.id, r.programs.find((p) => p.name === "dump_task")!.id);
      assert.equal(prog.info().type, "tracing");
    }
    const any = openPin(`${b.path}/hello_total`);
    assert.equal(any.kind, "map");
    const moved = any.take();
    assert.ok(any.closed);
    assert.throws(() => any.info(), /handle is closed/);
    assert.equal(moved.info().kind, "map");
    moved.close();
    moved.close();
    const wrong = caught(() => openMap(progPath));
    assert.equal(wrong.kind, "wrong-kind");
    assert.match(wrong.message, /as a map: it is a program$/);
  },
  { needs: ["iterator task"] },
);
