// Holes of the second hardening round (issue 25) that a name, a tree or an
// object chooses: cgroup names that are not UTF-8, names bpffs refuses,
// trees deeper than PATH_MAX, escapes bound for root's terminal, and
// externs that ask for more memory than anything holds. Each test makes
// its own bpffs, cgroups and state directory, and removes them in finally.
import { main } from "../cli.ts";
import {
  assert,
  captureIo,
  exists,
  kernelTest,
  privateBpffs,
  privateCgroups,
  ROOT,
  run,
  tempDir,
} from "./_kernel.ts";

const HUGE_KCONFIG = `${ROOT}/build/tests/kconfig_huge.bpf.o`;
const CGSTAT = `${ROOT}/build/examples/cgstat.bpf.o`;
/** What the attach tests here need: views of cgroups and cgroup links. */
const VIEW_NEEDS = [
  "cgroup2",
  "iterator cgroup",
  "iterator cgroup parameters",
] as const;

/** What a terminal would act on: C0 but newline and tab, DEL, C1, bidi. */
// deno-lint-ignore no-control-regex
const RAW = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/** Whether `text` has a control or bidi character but in its line ends. */
function raw(text: string): boolean {
  return text.split("\n").some((l) => RAW.test(l));
}

/**
 * The CLI's arguments of a view rule "stat" over `cgroups`: `common` (the
 * roots and state, for detach too) and `args` (the attach).
 */
function statRule(
  bpffs: string,
  cgroups: string,
  mirror: string,
  state: string,
): { common: string[]; args: string[] } {
  const common = [
    "--pin-root",
    `${bpffs}/views`,
    "--expose-root",
    mirror,
    "--state",
    state,
  ];
  const args = ["attach", `${CGSTAT}:cgstat`, "--cgroup-root", cgroups];
  return { common, args: [...args, "--name", "stat", ...common] };
}

// ---------------------------------------------------------------------------
// Output

kernelTest(
  "attach's summary and JSON escape cgroup names with ESC, OSC, C1 and bidi characters in their skipped lines",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using mirror = await tempDir("bpfxmirror-");
    await using state = await tempDir("bpfxstate-");
    const names = [
      "clear\x1b[2J",
      "title\x1b]0;pwned\x07",
      "csi\u009b31m",
      "bidi\u202egnp.exe",
    ];
    for (const n of names) {
      await cg.make(n);
      // A file that is not bpfx's where the view would be exposed: skipped.
      await Deno.mkdir(`${mirror.path}/${n}`);
      await Deno.writeTextFile(`${mirror.path}/${n}/stat`, "not bpfx's\n");
    }
    const { common, args } = statRule(b.path, cg.root, mirror.path, state.path);
    try {
      let io = captureIo();
      assert.equal(await main(args, { io }), 0, io.stderr());
      const text = new TextDecoder().decode(io.stdout());
      assert.ok(!raw(text) && !raw(io.stderr()), JSON.stringify(text));
      assert.match(text, /^skipped {2}4$/m);
      assert.ok(text.includes('skipped "clear\\x1b[2J": '), text);
      assert.ok(text.includes('skipped "title\\x1b]0;pwned\\x07": '), text);
      assert.ok(text.includes('skipped "csi\\x9b31m": '), text);
      assert.ok(text.includes('skipped "bidi\\u{202e}gnp.exe": '), text);
      // The same report as JSON keeps each name, escaped as JSON escapes.
      io = captureIo();
      assert.equal(await main([...args, "--json"], { io }), 0, io.stderr());
      const json = new TextDecoder().decode(io.stdout());
      assert.ok(!raw(json), json);
      const report = JSON.parse(json) as { skipped: { cgroup: string }[] };
      assert.deepEqual(
        report.skipped.map((s) => s.cgroup).sort(),
        [...names].sort(),
      );
    } finally {
      const io = captureIo();
      assert.equal(await main(["detach", ...common], { io }), 0, io.stderr());
    }
  },
  { needs: VIEW_NEEDS },
);

// ---------------------------------------------------------------------------
// Objects

kernelTest(
  "load of two 4 GiB __kconfig arrays is refused before it allocates them",
  async () => {
    await using b = await privateBpffs();
    // The data limit (1 GiB) makes an allocation of the arrays' size fail
    // (an abort, signal 6) instead of taking the machine's memory; GNU
    // time gives the peak RSS.
    const out = await run("/usr/bin/time", [
      "-f",
      "maxrss_kb=%M",
      "prlimit",
      `--data=${1 << 30}`,
      `${ROOT}/node_modules/.bin/deno`,
      "run",
      "-A",
      `${ROOT}/cli.ts`,
      "load",
      HUGE_KCONFIG,
      "--pin",
      `${b.path}/obj`,
      "--pin-by-name-root",
      b.path,
    ]);
    const rss = Number(/maxrss_kb=(\d+)/.exec(out.stderr)?.[1]);
    console.log(`load of the 4 GiB kconfig arrays: peak RSS ${rss} kB`);
    assert.ok(!/memory allocation|signal/.test(out.stderr), out.stderr);
    assert.equal(out.code, 1, out.stderr);
    assert.match(
      out.stderr,
      /extern "CONFIG_BPFX_HUGE_A" \(kconfig\) is 4294967295 bytes, past the 1048576 bytes/,
    );
    assert.ok(rss > 0 && rss < 256 * 1024, `peak RSS ${rss} kB`);
    assert.ok(!(await exists(`${b.path}/obj`)), "nothing is pinned");
  },
  { needs: [] },
);

// ---------------------------------------------------------------------------
// Deep trees

kernelTest(
  "detach of a tree whose encoded pin paths pass PATH_MAX removes every view, then forgets the rule",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using mirror = await tempDir("bpfxmirror-");
    await using state = await tempDir("bpfxstate-");
    // 18 levels, 3.8 kB of cgroup path; each '.' is 3 bytes in the pin
    // tree ("%2E"), so the deepest pins' directories take 4093 bytes, and
    // "<dir>/stat" more than PATH_MAX.
    const seg = "a.".repeat(18) + "b".repeat(172);
    const rels = Array.from({ length: 17 }, () => seg);
    rels.push("a.".repeat(18) + "b".repeat(180));
    await cg.make(rels.join("/"));
    const { common, args } = statRule(b.path, cg.root, mirror.path, state.path);
    const manifest = async () =>
      JSON.parse(await Deno.readTextFile(`${state.path}/manifest.json`)) as {
        rules: unknown[];
      };
    let io = captureIo();
    try {
      assert.equal(await main([...args, "--json"], { io }), 0, io.stderr());
      const made = (JSON.parse(new TextDecoder().decode(io.stdout())) as {
        made: unknown[];
      }).made.length;
      assert.ok(made >= 17, `made ${made}`);
      assert.equal((await manifest()).rules.length, 1);
      io = captureIo();
      assert.equal(
        await main(["detach", ...common, "--json"], { io }),
        0,
        io.stderr(),
      );
      const removed = (JSON.parse(new TextDecoder().decode(io.stdout())) as {
        removed: unknown[];
      }).removed.length;
      assert.equal(removed, made);
      assert.deepEqual((await manifest()).rules, []);
      const left = await exists(`${b.path}/views`)
        ? [...Deno.readDirSync(`${b.path}/views`)].map((e) => e.name)
        : [];
      assert.deepEqual(left, [], "the pin tree is gone");
    } finally {
      await main(["detach", ...common], { io: captureIo() });
    }
  },
  { needs: VIEW_NEEDS },
);
