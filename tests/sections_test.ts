// Sections aya 0.14 cannot read by itself: `?` sections (loaded only when
// asked for), `syscall` programs (linked and loaded by bpfx, run with a
// context), `--only`, full program names from BTF, and program types bpfx
// cannot load. Against the real kernel, each test in its own bpffs, and
// compared with what bpftool (libbpf) does with the same object.
import {
  BpfNotFoundError,
  createView,
  inspect,
  load,
  ls,
  NotSupportedError,
  openProgram,
  type ProgramInfo,
  readView,
  runProgram,
  show,
} from "../mod.ts";
import {
  assert,
  bpftool,
  bpftoolJson,
  BPFX,
  kernelTest,
  privateBpffs,
  rejected,
  ROOT,
  run,
  tree,
} from "./_kernel.ts";

/** The fixture `make` builds from tests/bpf/sections.bpf.c. */
const SECTIONS = `${ROOT}/build/tests/sections.bpf.o`;
/** The fixture with a `tc` program, from tests/bpf/unsupported.bpf.c. */
const UNSUPPORTED = `${ROOT}/build/tests/unsupported.bpf.o`;
/** The same as SECTIONS without the `?` section, which bpftool cannot pin. */
const NO_OPTIONAL = `${ROOT}/build/tests/sections-noopt.bpf.o`;

const OPTIONAL = "list_task_comms_optional";
const VIEW = "list_task_tgids_in_full";
const SYSCALL = "write_ctx_to_map";

/** The context of the syscall program: `struct run_args { a, b, sum }`. */
function args(a: bigint, b: bigint): Uint8Array {
  const ctx = new Uint8Array(24);
  const v = new DataView(ctx.buffer);
  v.setBigUint64(0, a, true);
  v.setBigUint64(8, b, true);
  return ctx;
}

function u64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(
    offset,
    true,
  );
}

/** The pins under `dir`, bpffs's own `maps.debug` and `progs.debug` left out. */
async function pins(dir: string): Promise<string[]> {
  return (await tree(dir)).filter((p) => !/\/(maps|progs)\.debug$/.test(p));
}

/** The highest map id alive now (ids grow, so later maps have higher ids). */
async function maxMapId(): Promise<number> {
  const maps = await bpftoolJson<{ id: number }[]>(["map", "show"]);
  return Math.max(0, ...maps.map((m) => m.id));
}

Deno.test("inspect() reads ? and syscall sections: the ? program is optional, the syscall one a syscall program", () => {
  const spec = inspect(SECTIONS);
  assert.deepEqual(
    spec.programs.map((
      p,
    ) => [p.name, p.section, p.type, p.autoload, p.unsupported]),
    [
      [OPTIONAL, "?iter/task", "tracing", false, null],
      [VIEW, "iter/task", "tracing", true, null],
      [SYSCALL, "syscall", "syscall", true, null],
    ],
  );
  const maps = Object.fromEntries(spec.programs.map((p) => [p.name, p.maps]));
  assert.deepEqual(maps, {
    [OPTIONAL]: [".rodata", "optional_seen"],
    [VIEW]: [".rodata", "tasks_seen"],
    [SYSCALL]: [".bss", "syscall_out"],
  });
  assert.deepEqual(spec.maps.map((m) => m.name), [
    ".bss",
    ".rodata",
    "optional_seen",
    "syscall_out",
    "tasks_seen",
  ]);
});

Deno.test("bpfx inspect lists a ? program as optional and an unsupported one with why", async () => {
  const r = await run(BPFX, ["inspect", SECTIONS]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /list_task_comms_optional +\?iter\/task .* optional\n/,
  );
  assert.match(r.stdout, /write_ctx_to_map +syscall +syscall .* yes\n/);
  const u = await run(BPFX, ["inspect", UNSUPPORTED]);
  assert.equal(u.code, 0, u.stderr);
  assert.match(
    u.stdout,
    /count_getpid +ksyscall\/getpid +kprobe .* unsupported\n/,
  );
  assert.match(
    u.stdout,
    /note: "count_getpid" \(section "ksyscall\/getpid"\) is unsupported: aya 0\.14, which bpfx loads with, has no support for ksyscall programs/,
  );
});

kernelTest(
  "load() loads what bpftool prog loadall loads, and ls() and show() give the full names of both",
  async () => {
    await using b = await privateBpffs();
    const r = load(SECTIONS, { pinDir: `${b.path}/bpfx` });
    // bpftool 7.1 has libbpf load what it autoloads, then pins every
    // program: the `?` one was not loaded, so it cannot be pinned.
    const all = await run("bpftool", [
      "prog",
      "loadall",
      SECTIONS,
      `${b.path}/refused`,
    ]);
    assert.notEqual(all.code, 0);
    assert.match(
      all.stderr,
      new RegExp(`prog '${OPTIONAL}': can't pin program that wasn't loaded`),
    );
    await bpftool(["prog", "loadall", NO_OPTIONAL, `${b.path}/libbpf`]);
    const kinds = async (dir: string) => {
      const out: [string, string][] = [];
      for await (const e of Deno.readDir(dir)) {
        if (!e.isFile) continue;
        const t = await bpftoolJson<{ name: string; type: string }>([
          "prog",
          "show",
          "pinned",
          `${dir}/${e.name}`,
        ]);
        out.push([t.name, t.type]);
      }
      return out.sort();
    };
    const expected: [string, string][] = [
      [VIEW, "tracing"],
      [SYSCALL, "syscall"],
    ];
    assert.deepEqual(await kinds(`${b.path}/libbpf`), expected);
    assert.deepEqual(await kinds(`${b.path}/bpfx`), expected);
    assert.deepEqual(
      r.programs.map((p) => [p.name, p.type]),
      expected,
    );
    // Full names (longer than the kernel's 15 bytes), for both loaders' pins.
    assert.ok(VIEW.length > 15);
    for (const dir of ["bpfx", "libbpf"]) {
      const listed = ls(`${b.path}/${dir}`).filter((e) => e.kind === "prog");
      assert.deepEqual(listed.map((e) => e.name).sort(), [VIEW, SYSCALL]);
      const info = show(`${b.path}/${dir}/${VIEW}`) as ProgramInfo;
      assert.equal(info.name, VIEW);
    }
    const text = await run(BPFX, ["ls", `${b.path}/libbpf`]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`prog +\\d+ +tracing +${VIEW}\\n`));
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "load() with only loads a ? program and pins only the maps it uses; the others are not kept",
  async () => {
    await using b = await privateBpffs();
    const before = await maxMapId();
    const dir = `${b.path}/opt`;
    const r = load(SECTIONS, { pinDir: dir, only: [OPTIONAL] });
    assert.deepEqual(r.programs.map((p) => p.name), [OPTIONAL]);
    assert.deepEqual(await tree(dir), [
      `${dir}/${OPTIONAL}`,
      `${dir}/maps`,
      `${dir}/maps/_rodata`,
      `${dir}/maps/optional_seen`,
    ]);
    // The kernel agrees on what the program uses.
    const prog = show(`${dir}/${OPTIONAL}`) as ProgramInfo;
    assert.deepEqual(
      [...prog.mapIds].sort(),
      r.maps.map((m) => m.id).sort(),
    );
    // No map the other programs use outlives the load.
    const alive = await bpftoolJson<{ id: number; name?: string }[]>([
      "map",
      "show",
    ]);
    const made = alive.filter((m) => m.id > before).map((m) => m.name);
    for (const unused of ["syscall_out", "tasks_seen"]) {
      assert.ok(!made.includes(unused), `${unused} is alive: ${made}`);
    }
    // A view of it reads what /proc says.
    createView(`${dir}/${OPTIONAL}`, { pin: `${b.path}/comms` });
    const lines = (await readView(`${b.path}/comms`)).trim().split("\n");
    const comm = (await Deno.readTextFile(`/proc/${Deno.pid}/comm`)).trim();
    assert.ok(lines.includes(`${Deno.pid} ${comm}`), lines.join("|"));
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "createView() of OBJ:NAME works for a ? iterator and for the other view of the same object",
  async () => {
    await using b = await privateBpffs();
    createView(`${SECTIONS}:${OPTIONAL}`, { pin: `${b.path}/comms` });
    createView(`${SECTIONS}:${VIEW}`, { pin: `${b.path}/tgids` });
    const comm = (await Deno.readTextFile(`/proc/${Deno.pid}/comm`)).trim();
    const comms = (await readView(`${b.path}/comms`)).trim().split("\n");
    assert.ok(comms.includes(`${Deno.pid} ${comm}`), comms.join("|"));
    const tgids = (await readView(`${b.path}/tgids`)).trim().split("\n");
    assert.ok(tgids.includes(String(Deno.pid)));
    assert.ok(tgids.includes("2"), "kthreadd is listed");
    // Every line is a process /proc lists, or one that was gone by then.
    const procs = new Set<string>();
    for await (const e of Deno.readDir("/proc")) {
      if (/^\d+$/.test(e.name)) procs.add(e.name);
    }
    const known = tgids.filter((t) => procs.has(t)).length;
    assert.ok(known > tgids.length * 0.9, `${known} of ${tgids.length}`);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "runProgram() runs a syscall program with a context: its retval, the context it wrote and its map",
  async () => {
    await using b = await privateBpffs();
    const dir = `${b.path}/s`;
    load(SECTIONS, { pinDir: dir, only: [SYSCALL] });
    assert.deepEqual(await tree(dir), [
      `${dir}/maps`,
      `${dir}/maps/_bss`,
      `${dir}/maps/syscall_out`,
      `${dir}/${SYSCALL}`,
    ]);
    const r = runProgram(`${dir}/${SYSCALL}`, { ctx: args(7n, 5n) });
    assert.equal(r.type, "syscall");
    assert.equal(r.name, SYSCALL);
    assert.equal(r.retval, 14, "twice(a)");
    assert.ok(r.ctx !== null);
    assert.equal(u64(r.ctx, 16), 12n, "ctx->sum = a + b");
    const out = await bpftoolJson<{ value: string[] }>([
      "map",
      "lookup",
      "pinned",
      `${dir}/maps/syscall_out`,
      "key",
      "0",
      "0",
      "0",
      "0",
    ]);
    const value = Uint8Array.from(out.value.map((x) => parseInt(x, 16)));
    assert.equal(u64(value, 0), 7005n, "combine(a, b) = a * 1000 + b");

    // Through a handle, and through the CLI.
    {
      using prog = openProgram(`${dir}/${SYSCALL}`);
      const again = runProgram(prog, { ctx: args(21n, 0n) });
      assert.equal(again.retval, 42);
    }
    const hex = Array.from(args(3n, 4n), (x) => x.toString(16).padStart(2, "0"))
      .join("");
    const cli = await run(BPFX, [
      "run",
      `${dir}/${SYSCALL}`,
      "--ctx",
      hex,
      "--json",
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    const j = JSON.parse(cli.stdout);
    assert.equal(j.retval, 6);
    assert.equal(j.ctx.slice(32, 48), "0700000000000000", "sum = 7");
    // The context from a file (@FILE), printed as text.
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeFile(file, args(1n, 1n));
      const t = await run(BPFX, [
        "run",
        `${dir}/${SYSCALL}`,
        "--ctx",
        `@${file}`,
      ]);
      assert.equal(t.code, 0, t.stderr);
      assert.match(
        t.stdout,
        /^program +write_ctx_to_map \(id \d+, syscall\)\n/,
      );
      assert.match(t.stdout, /\nretval +2 \(0x2\)\n/);
      assert.match(t.stdout, /\nctx +0100000000000000010000000000000002000000/);
    } finally {
      await Deno.remove(file);
    }
    // A context that is not hex is a usage error.
    const bad = await run(BPFX, ["run", `${dir}/${SYSCALL}`, "--ctx", "abc"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /Expected an even number of hex digits, or @FILE/);
    // The .bss counter (syscall_runs) saw all four runs.
    const bss = await bpftoolJson<{ value: string[] }[]>([
      "map",
      "dump",
      "pinned",
      `${dir}/maps/_bss`,
    ]);
    assert.equal(bss.length, 1);
    const runs = Uint8Array.from(bss[0]!.value.map((x) => parseInt(x, 16)));
    assert.equal(u64(runs, 0), 4n);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "load() with only refuses an unknown name, naming it and the object's programs, and pins nothing",
  async () => {
    await using b = await privateBpffs();
    const dir = `${b.path}/x`;
    const e = await rejected(() =>
      load(SECTIONS, { pinDir: dir, only: [SYSCALL, "nope"] })
    );
    assert.ok(e instanceof BpfNotFoundError, String(e));
    assert.equal(
      e.message,
      `Object "${SECTIONS}" has no program "nope" (it has: ${OPTIONAL}, ${VIEW}, ${SYSCALL})`,
    );
    assert.deepEqual(await pins(b.path), []);
    const cli = await run(BPFX, [
      "load",
      SECTIONS,
      "--pin",
      dir,
      "--only",
      "nope",
    ]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /has no program "nope" \(it has: /);
    assert.deepEqual(await pins(b.path), []);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "load() with only loads a ? iterator beside the iterator of its name without the '?', and both views read",
  async () => {
    await using b = await privateBpffs();
    const dir = `${b.path}/both`;
    const r = load(SECTIONS, { pinDir: dir, only: [OPTIONAL, VIEW] });
    assert.deepEqual(r.programs.map((p) => p.name), [OPTIONAL, VIEW]);
    assert.deepEqual(r.maps.map((m) => m.name), [
      ".rodata",
      "optional_seen",
      "tasks_seen",
    ]);
    createView(`${dir}/${OPTIONAL}`, { pin: `${b.path}/comms` });
    createView(`${dir}/${VIEW}`, { pin: `${b.path}/tgids` });
    const comm = (await Deno.readTextFile(`/proc/${Deno.pid}/comm`)).trim();
    const comms = (await readView(`${b.path}/comms`)).trim().split("\n");
    assert.ok(comms.includes(`${Deno.pid} ${comm}`), comms.join("|"));
    const tgids = (await readView(`${b.path}/tgids`)).trim().split("\n");
    assert.ok(tgids.includes(String(Deno.pid)), tgids.join("|"));
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "load() refuses a program type bpfx cannot load, naming the program, its section and what is missing, and leaves nothing",
  async () => {
    await using b = await privateBpffs();
    const dir = `${b.path}/u`;
    const e = await rejected(() => load(UNSUPPORTED, { pinDir: dir }));
    assert.ok(e instanceof NotSupportedError, String(e));
    assert.equal(
      e.message,
      `Cannot load program "count_getpid" (section "ksyscall/getpid") of "${UNSUPPORTED}": aya 0.14, which bpfx loads with, has no support for ksyscall programs`,
    );
    assert.equal(e.hint, "load the others with --only count_tasks_plain");
    assert.deepEqual(await pins(b.path), []);
    // libbpf loads both; bpfx loads the other when asked.
    await bpftool(["prog", "loadall", UNSUPPORTED, `${b.path}/libbpf`]);
    assert.deepEqual(
      (await tree(`${b.path}/libbpf`)).map((p) => p.split("/").pop()),
      ["count_getpid", "count_tasks_plain"],
    );
    const r = load(UNSUPPORTED, { pinDir: dir, only: ["count_tasks_plain"] });
    assert.deepEqual(r.programs.map((p) => p.name), ["count_tasks_plain"]);
  },
  { needs: ["iterator task"] },
);
