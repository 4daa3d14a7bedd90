// __ksym and __kconfig externs against the real kernel: the examples that
// use kfuncs, ksyms and kconfig values are loaded, their views read and
// checked against /proc, cgroupfs and the kernel's config, and compared with
// what `bpftool prog loadall` (libbpf) makes of the same objects.
import {
  attach,
  createView,
  inspect,
  load,
  type LoadReport,
  NotSupportedError,
  readView,
  VerifierError,
} from "../mod.ts";
import { main } from "../cli.ts";
import {
  assert,
  bpftoolJson,
  captureIo,
  child,
  kernelTest,
  privateBpffs,
  privateCgroups,
  rejected,
  ROOT,
  run,
  sleep,
  tempDir,
  tree,
} from "./_kernel.ts";

const CGTASKS = `${ROOT}/build/examples/cgtasks.bpf.o`;
const TASKRQ = `${ROOT}/build/examples/taskrq.bpf.o`;
const KCONFIG = `${ROOT}/build/examples/kconfig.bpf.o`;

/** The lines of a cgroup interface file. */
async function lines(path: string): Promise<number> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "")
    .length;
}

/** `key=value` pairs of one line of view output; `comm=` takes the rest. */
function fields(line: string): Record<string, string> {
  const [head, comm] = line.trim().split(" comm=", 2);
  const out = Object.fromEntries(
    head!.split(" ").map((kv) => kv.split("=", 2) as [string, string]),
  );
  if (comm !== undefined) out.comm = comm;
  return out;
}

/** The kernel's build config, as bpfx reads it. */
async function kernelConfig(): Promise<Map<string, string>> {
  let text: string;
  try {
    const gz = await Deno.readFile("/proc/config.gz");
    const stream = new Blob([gz]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    text = await new Response(stream).text();
  } catch {
    text = await Deno.readTextFile(`/boot/config-${Deno.osRelease()}`);
  }
  const out = new Map<string, string>();
  for (const l of text.split("\n")) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(l);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** kallsyms addresses of `names` (absent ones are not in the map). */
async function kallsyms(names: string[]): Promise<Map<string, bigint>> {
  const want = new Set(names);
  const out = new Map<string, bigint>();
  for (const l of (await Deno.readTextFile("/proc/kallsyms")).split("\n")) {
    const [addr, , name] = l.split(/\s+/);
    if (name && want.has(name) && !out.has(name)) {
      out.set(name, BigInt(`0x${addr}`));
    }
  }
  return out;
}

/**
 * Loads `obj` with bpftool into `dir`: the name and type of each program it
 * pinned, or its error output when libbpf refuses the object.
 */
async function bpftoolLoadall(
  obj: string,
  dir: string,
): Promise<{ programs: [string, string][] } | { refused: string }> {
  const r = await run("bpftool", ["prog", "loadall", obj, dir]);
  if (r.code !== 0) return { refused: r.stderr };
  const programs: [string, string][] = [];
  for await (const e of Deno.readDir(dir)) {
    const info = await bpftoolJson<{ name: string; type: string }>([
      "prog",
      "show",
      "pinned",
      `${dir}/${e.name}`,
    ]);
    programs.push([info.name, info.type]);
  }
  return { programs: programs.sort() };
}

/**
 * Compiles an object in `dir` whose one program calls kfunc `name`, with
 * `attrs` added to its `__ksym` declaration; returns its path.
 */
async function calling(
  dir: string,
  name: string,
  attrs: string,
): Promise<string> {
  const src = `${dir}/${name}.bpf.c`;
  const obj = `${dir}/${name}.bpf.o`;
  await Deno.writeTextFile(
    src,
    `extern void ${name}(void) __attribute__((section(".ksyms")${attrs}));
__attribute__((section("iter/task"), used)) int gone(void *c) { ${name}(); return 0; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
`,
  );
  const cc = await run("clang", [
    "-g",
    "-O2",
    "-target",
    "bpf",
    "-c",
    src,
    "-o",
    obj,
  ]);
  assert.equal(cc.code, 0, cc.stderr);
  return obj;
}

function programsOf(report: LoadReport): [string, string][] {
  return report.programs.map((p): [string, string] => [p.name, p.type])
    .sort();
}

kernelTest(
  "load() of the css_task kfunc object; attach() over 200 cgroups counts each cgroup's cgroup.threads and cgroup.procs",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using mirror = await tempDir("bpfxmirror-");

    const spec = inspect(CGTASKS);
    assert.deepEqual(
      spec.externs.map((e) => [e.name, e.kind, e.weak, e.found]).sort(),
      [
        "bpf_iter_css_task_destroy",
        "bpf_iter_css_task_new",
        "bpf_iter_css_task_next",
        "bpf_rcu_read_lock",
        "bpf_rcu_read_unlock",
      ].map((n) => [n, "ksym-func", false, true]),
    );
    for (const e of spec.externs) assert.ok(e.btfId! > 0, e.name);

    const report = load(CGTASKS, { pinDir: `${b.path}/obj` });
    const libbpf = await bpftoolLoadall(CGTASKS, `${b.path}/bpftool`);
    assert.ok("programs" in libbpf, JSON.stringify(libbpf));
    assert.deepEqual(programsOf(report), libbpf.programs);

    // The root, 9 children with 21 children each, and one more: 200.
    const rels = [""];
    for (let c = 0; c < 9; c++) {
      rels.push(`c${c}`);
      for (let g = 0; g < 21; g++) rels.push(`c${c}/g${g}`);
    }
    rels.push("last");
    assert.equal(rels.length, 200);
    for (const rel of rels) if (rel !== "") await cg.make(rel);

    // Single-threaded sleeps in some cgroups, and a many-threaded Deno.
    const procs: (AsyncDisposable & { pid: number })[] = [];
    try {
      const moved = new Map<string, number>();
      for (
        const [i, rel] of ["c0/g0", "c0/g0", "c3", "c8/g20", "last"].entries()
      ) {
        const p = child("sleep", ["60"]);
        procs.push(p);
        await cg.enter(rel, p.pid);
        moved.set(rel, (moved.get(rel) ?? 0) + 1);
        if (i === 0) {
          const d = child(`${ROOT}/node_modules/.bin/deno`, [
            "eval",
            "await new Promise((r) => setTimeout(r, 60000))",
          ]);
          procs.push(d);
          await cg.enter("c5/g7", d.pid);
          moved.set("c5/g7", 1);
        }
      }
      const made = await attach(`${CGTASKS}:cgtasks`, {
        cgroupRoot: cg.root,
        pinRoot: `${b.path}/views`,
        exposeRoot: mirror.path,
        name: "tasks",
      });
      assert.equal(made.made.length, 200);
      let withThreads = 0;
      for (const item of made.made) {
        const dir = item.cgroup === "" ? cg.root : `${cg.root}/${item.cgroup}`;
        for (let attempt = 0;; attempt++) {
          const before = await lines(`${dir}/cgroup.threads`);
          const f = fields(await readView(item.expose));
          const after = await lines(`${dir}/cgroup.threads`);
          if (before !== after && attempt < 20) {
            await sleep(50); // threads still starting
            continue;
          }
          assert.equal(f.id, String(item.cgroupId), item.cgroup);
          assert.equal(Number(f.threads), after, `${item.cgroup} threads`);
          assert.equal(
            Number(f.procs),
            await lines(`${dir}/cgroup.procs`),
            `${item.cgroup} procs`,
          );
          assert.equal(Number(f.procs), moved.get(item.cgroup) ?? 0);
          if (Number(f.threads) > Number(f.procs)) withThreads++;
          break;
        }
      }
      assert.equal(
        withThreads,
        1,
        "the Deno child has more threads than procs",
      );
    } finally {
      for (const p of procs) await p[Symbol.asyncDispose]();
    }
  },
  { needs: ["iterator cgroup", "iterator cgroup parameters", "cgroup2"] },
);

kernelTest(
  "load() of the task object with a typed ksym, kfuncs and weak externs; its view agrees with /proc",
  async () => {
    await using b = await privateBpffs();
    const syms = await kallsyms(["runqueues", "bpf_prog_fops"]);
    const spec = inspect(TASKRQ);
    const byName = new Map(spec.externs.map((e) => [e.name, e]));
    assert.deepEqual(
      [...byName.keys()].sort(),
      [
        "bpf_bpfx_not_a_kfunc",
        "bpf_prog_fops",
        "bpf_task_acquire",
        "bpf_task_from_pid",
        "bpf_task_release",
        "runqueues",
      ],
    );
    const fromPid = byName.get("bpf_task_from_pid")!;
    assert.ok(fromPid.found && fromPid.btfId! > 0, JSON.stringify(fromPid));
    assert.equal(byName.get("bpf_task_acquire")!.found, true);
    assert.equal(byName.get("bpf_bpfx_not_a_kfunc")!.found, false);
    assert.equal(byName.get("runqueues")!.kind, "ksym-var");
    assert.equal(byName.get("runqueues")!.found, syms.has("runqueues"));
    assert.equal(byName.get("bpf_prog_fops")!.kind, "ksym-typeless");

    const report = load(TASKRQ, { pinDir: `${b.path}/obj` });
    assert.deepEqual(programsOf(report), [["taskrq", "tracing"]]);
    const libbpf = await bpftoolLoadall(TASKRQ, `${b.path}/bpftool`);
    if (syms.has("runqueues")) {
      assert.ok("programs" in libbpf, JSON.stringify(libbpf));
      assert.deepEqual(programsOf(report), libbpf.programs);
    } else {
      // libbpf links the weak `runqueues` by BTF, and the kernel, which
      // finds a variable's address in kallsyms, refuses the program; bpfx
      // makes it 0, as a weak extern the kernel cannot give.
      assert.ok("refused" in libbpf, JSON.stringify(libbpf));
      assert.match(
        libbpf.refused,
        /failed to find the address for kernel symbol 'runqueues'/,
      );
    }

    const pid = Deno.pid;
    createView(`${b.path}/obj/taskrq`, { pin: `${b.path}/mine`, pid });
    const text = (await readView(`${b.path}/mine`)).trimEnd().split("\n");
    const head = fields(text[0]!);
    assert.equal(BigInt(`0x${head.fops}`), syms.get("bpf_prog_fops") ?? 0n);
    assert.equal(head.not_a_kfunc, "0");
    assert.equal(head.from_pid, "1", "a BTF id load of a kfunc is not null");
    const cpus = navigator.hardwareConcurrency;
    const rows = text.slice(1).map(fields);
    assert.ok(rows.length >= 1, text.join("\n"));
    for (const r of rows) {
      assert.equal(r.tgid, String(pid));
      assert.ok(Number(r.cpu) >= 0 && Number(r.cpu) < cpus, r.cpu);
      assert.equal(r.rq_cpu, syms.has("runqueues") ? r.cpu : "-1");
      const comm = await Deno.readTextFile(`/proc/${pid}/task/${r.pid}/comm`)
        .catch(() => null);
      if (comm !== null) assert.equal(r.comm, comm.trimEnd(), r.pid);
    }
  },
  { needs: ["iterator task", "iterator task parameters"] },
);

kernelTest(
  "load() of the kconfig object; its view shows the kernel's config and version",
  async () => {
    await using b = await privateBpffs();
    const config = await kernelConfig();
    const report = load(KCONFIG, { pinDir: `${b.path}/obj` });
    assert.ok(
      report.maps.some((m) => m.name === ".rodata.kconfig"),
      JSON.stringify(report.maps),
    );
    const libbpf = await bpftoolLoadall(KCONFIG, `${b.path}/bpftool`);
    assert.ok("programs" in libbpf, JSON.stringify(libbpf));
    assert.deepEqual(programsOf(report), libbpf.programs);

    createView(`${b.path}/obj/kconfig`, { pin: `${b.path}/v` });
    const [l1, l2] = (await readView(`${b.path}/v`)).trimEnd().split("\n");
    const f = { ...fields(l1!), ...fields(l2!) };
    assert.equal(f.hz, config.get("CONFIG_HZ"));
    const [major, minor, patch] = Deno.osRelease().split(/[.-]/).map(Number);
    assert.equal(
      Number(f.version),
      (major! << 16) + (minor! << 8) + Math.min(patch!, 255),
    );
    assert.equal(
      f.bpf_syscall,
      config.get("CONFIG_BPF_SYSCALL") === "y" ? "1" : "0",
    );
    const tri = { n: "0", y: "1", m: "2" } as Record<string, string>;
    assert.equal(f.ikconfig, tri[config.get("CONFIG_IKCONFIG") ?? "n"]);
    assert.equal(f.not_a_thing, "0");
    assert.equal(
      f.hostname,
      (config.get("CONFIG_DEFAULT_HOSTNAME") ?? '""').slice(1, -1).slice(0, 15),
    );
    const spec = inspect(KCONFIG);
    const e = new Map(spec.externs.map((x) => [x.name, x]));
    assert.equal(e.get("CONFIG_HZ")!.value, f.hz);
    assert.equal(e.get("LINUX_HAS_BPF_COOKIE")!.value, f.has_cookie);
    assert.deepEqual(
      [
        e.get("CONFIG_BPFX_NOT_A_THING")!.found,
        e.get("CONFIG_BPFX_NOT_A_THING")!.weak,
      ],
      [false, true],
    );
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "load() refuses an object with a strong extern the kernel lacks, naming it, and pins nothing",
  async () => {
    await using b = await privateBpffs();
    await using dir = await tempDir("bpfxext-");
    const obj = await calling(dir.path, "bpf_bpfx_gone", "");
    const e = await rejected(() => load(obj, { pinDir: `${b.path}/gone` }));
    assert.ok(e instanceof NotSupportedError, String(e));
    assert.equal(e.feature, "extern");
    assert.equal(
      e.message,
      `Cannot load "${obj}": extern "bpf_bpfx_gone" (kfunc) is not in the running kernel's BTF`,
    );
    assert.deepEqual(
      (await tree(b.path)).filter((p) => p.startsWith(`${b.path}/gone`)),
      [],
    );
    const [x] = inspect(obj).externs;
    assert.deepEqual([x!.name, x!.kind, x!.found], [
      "bpf_bpfx_gone",
      "ksym-func",
      false,
    ]);
    const libbpf = await bpftoolLoadall(obj, `${b.path}/bpftool`);
    assert.ok("refused" in libbpf, "libbpf refuses it too");

    // A weak kfunc the kernel lacks, called without bpf_ksym_exists(): the
    // verifier finds the call reachable, and the error names the kfunc.
    await calling(dir.path, "bpf_bpfx_gone", ", weak");
    const weak = await rejected(() => load(obj, { pinDir: `${b.path}/weak` }));
    assert.ok(weak instanceof VerifierError, String(weak));
    assert.match(
      weak.message,
      /: it calls the weak kfunc "bpf_bpfx_gone", which this kernel lacks$/,
    );
    assert.match(weak.log ?? "", /invalid func unknown#2002/);
    assert.ok(
      !(await Deno.lstat(`${b.path}/weak`).then(() => true, () => false)),
    );
    const libbpf2 = await bpftoolLoadall(obj, `${b.path}/bpftool`);
    assert.ok("refused" in libbpf2, "libbpf refuses it too");
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "bpfx inspect lists the externs with what this kernel gives; bpfx load loads the kfunc object",
  async () => {
    const io = captureIo();
    assert.equal(await main(["inspect", CGTASKS], { io }), 0, io.stderr());
    const text = new TextDecoder().decode(io.stdout());
    const table = text.slice(text.indexOf("EXTERN"));
    const rows = table.trimEnd().split("\n");
    assert.match(rows[0]!, /^EXTERN\s+KIND\s+WEAK\s+FOUND\s+RESOLVES TO$/);
    const ids = new Map(inspect(CGTASKS).externs.map((e) => [e.name, e.btfId]));
    assert.equal(rows.length, 6, table);
    for (const r of rows.slice(1)) {
      const [name, kind, weak, found, ...to] = r.split(/\s+/);
      assert.deepEqual([kind, weak, found], ["ksym-func", "no", "yes"], r);
      assert.equal(to.join(" "), `btf id ${ids.get(name!)}`);
    }
    const json = captureIo();
    assert.equal(await main(["inspect", KCONFIG, "--json"], { io: json }), 0);
    const spec = JSON.parse(new TextDecoder().decode(json.stdout()));
    assert.equal(spec.externs.length, 7);

    await using b = await privateBpffs();
    const hello = captureIo();
    assert.equal(
      await main(["inspect", `${ROOT}/build/examples/hello.bpf.o`], {
        io: hello,
      }),
      0,
    );
    assert.ok(
      !new TextDecoder().decode(hello.stdout()).includes("EXTERN"),
      "no extern table for an object without externs",
    );
    const loaded = captureIo();
    assert.equal(
      await main(["load", CGTASKS, "--pin", `${b.path}/x`, "--json"], {
        io: loaded,
      }),
      0,
      loaded.stderr(),
    );
    const report = JSON.parse(new TextDecoder().decode(loaded.stdout()));
    assert.deepEqual(report.programs.map((p: { name: string }) => p.name), [
      "cgtasks",
    ]);
  },
  { needs: ["iterator cgroup"] },
);
