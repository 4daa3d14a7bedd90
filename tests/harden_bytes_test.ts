// Holes of the second hardening round (issue 25, items 4, 5, 6 and 8) that
// a tenant opens with the names of the cgroups it makes: names that are not
// UTF-8, two names that a lossy decoding makes one, names bpffs encoding
// makes longer, and escapes bound for root's terminal. Each test makes a
// real unprivileged user (useradd) and delegates a cgroup to it; the user
// makes the hostile cgroups itself (setpriv). Each test makes its own
// bpffs, cgroups and state directory, and removes them in finally.
import { main } from "../cli.ts";
import { nameBytes, watch, type WatchAction } from "../mod.ts";
import {
  assert,
  captureIo,
  collect,
  eventually,
  exists,
  kernelTest,
  privateBpffs,
  privateCgroups,
  privateState,
  ROOT,
  run,
  tempDir,
} from "./_kernel.ts";
import { delegated, sh, testUser } from "./_users.ts";

const OBJ = `${ROOT}/build/tests/cgroup_progs.bpf.o`;
const CGSTAT = `${ROOT}/build/examples/cgstat.bpf.o`;
/** Links and views of cgroups, and the watcher's marks. */
const NEEDS = [
  "cgroup2",
  "link cgroup",
  "iterator cgroup",
  "iterator cgroup parameters",
  "fanotify bpffs",
  "fanotify cgroupfs",
] as const;

/**
 * Runs `script` with bash as root in the cgroup `$0/<name>` (`name` given as
 * bash source, so `job$'\xff'`), below `dir`: its exit code and stderr.
 */
async function inCgroup(
  dir: string,
  name: string,
  script: string,
): Promise<{ code: number; stderr: string }> {
  return await run(
    "bash",
    sh(`echo $$ > "$0/"${name}/cgroup.procs && ${script}`, dir),
  );
}

const UDP = "echo x > /dev/udp/127.0.0.1/9";

/** The attach types `bpftool cgroup show` lists on `$0/<name>` below `dir`. */
async function attached(dir: string, name: string): Promise<string[]> {
  const r = await run("bash", sh(`bpftool -j cgroup show "$0/"${name}`, dir));
  assert.equal(r.code, 0, r.stderr);
  const shown = r.stdout.trim() === ""
    ? []
    : JSON.parse(r.stdout) as { attach_type: string }[];
  return shown.map((e) => e.attach_type);
}

/** The CLI's `attach` of a deny-UDP link rule over `root`, `--match job*`. */
function denyRule(root: string, bpffs: string, state: string): string[] {
  return [
    "attach",
    `${OBJ}:deny_udp4`,
    "--cgroup-root",
    root,
    "--match",
    "job*",
    "--pin-root",
    `${bpffs}/deny`,
    "--name",
    "deny",
    "--state",
    state,
  ];
}

/**
 * The CLI's `attach` of a view rule "stat" (cgstat) over `root`, `--match
 * job*`, exposed in `mirror`.
 */
function viewRule(
  root: string,
  bpffs: string,
  mirror: string,
  state: string,
): string[] {
  return [
    "attach",
    `${CGSTAT}:cgstat`,
    "--cgroup-root",
    root,
    "--match",
    "job*",
    "--pin-root",
    `${bpffs}/views`,
    "--expose-root",
    mirror,
    "--name",
    "stat",
    "--state",
    state,
  ];
}

/** The CLI's `detach` of the rules of `pinRoot`, with their `mirror`. */
function detachArgs(state: string, pinRoot: string, mirror?: string): string[] {
  const expose = mirror === undefined ? [] : ["--expose-root", mirror];
  return [
    "detach",
    "--state",
    state,
    "--pin-root",
    pinRoot,
    ...expose,
    "--json",
  ];
}

/** `detach`, in a test's finally: whatever is left goes, quietly. */
async function cleanUp(
  state: string,
  pinRoot: string,
  mirror?: string,
): Promise<void> {
  await main(detachArgs(state, pinRoot, mirror), { io: captureIo() });
}

/** Runs the CLI; asserts it exits 0, and gives its stdout. */
async function cli(args: string[]): Promise<string> {
  const io = captureIo();
  assert.equal(await main(args, { io }), 0, io.stderr());
  return new TextDecoder().decode(io.stdout());
}

interface Report {
  made: { cgroup: string }[];
  kept: { cgroup: string }[];
  skipped: { cgroup: string; why: string }[];
}

kernelTest(
  "a --match 'job*' link rule gives a tenant's job\\xff its deny-UDP link, at attach and from the watcher, and reports the name's bytes",
  async () => {
    await using u = await testUser();
    await using cg = await privateCgroups();
    await using b = await privateBpffs();
    await using state = await privateState();
    await using t = await delegated(u, `${cg.root}/tenant`);
    const made = await u.run("bash", sh(`mkdir "$0/job"$'\\xff'`, t.path));
    assert.equal(made.code, 0, made.stderr);
    const rule = denyRule(t.path, b.path, state.path);
    try {
      const report = JSON.parse(await cli([...rule, "--json"])) as Report;
      assert.deepEqual(report.skipped, []);
      assert.deepEqual(report.made.map((i) => i.cgroup), ["job\udcff"]);
      assert.deepEqual(
        [...nameBytes(report.made[0]!.cgroup)],
        [0x6a, 0x6f, 0x62, 0xff],
      );
      assert.deepEqual(await attached(t.path, `job$'\\xff'`), [
        "cgroup_inet_sock_create",
      ]);
      const there = await inCgroup(t.path, `job$'\\xff'`, UDP);
      assert.notEqual(there.code, 0, "a UDP socket in job\\xff");
      assert.match(there.stderr, /Operation not permitted/);
      // The pin's directory is the name encoded for bpffs.
      assert.ok(await exists(`${b.path}/deny/job%FF/deny`));

      // The watcher: a cgroup the user makes afterwards gets its link too.
      await using watcher = watch({ state: state.path });
      const seen = collect<WatchAction>(watcher);
      await eventually("started", () => seen.items.length > 0);
      const mk = await u.run("bash", sh(`mkdir "$0/jobs"$'\\xfe'`, t.path));
      assert.equal(mk.code, 0, mk.stderr);
      await eventually(
        () =>
          `the watcher made the link of jobs\\xfe: ${
            JSON.stringify(seen.items)
          }`,
        () =>
          seen.items.some((a) =>
            a.action === "link-made" && a.cgroup === "jobs\udcfe"
          ),
        5,
      );
      const later = await inCgroup(t.path, `jobs$'\\xfe'`, UDP);
      assert.notEqual(later.code, 0, "a UDP socket in jobs\\xfe");
      assert.equal(
        (await inCgroup(t.path, "", UDP)).code,
        0,
        "the tenant's own cgroup is not selected",
      );
      watcher.close();
    } finally {
      await cleanUp(state.path, `${b.path}/deny`);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "a tenant's mkdir and rmdir of job\\xff never removes the link and view of its live job\\u{FFFD}",
  async () => {
    await using u = await testUser();
    await using cg = await privateCgroups();
    await using b = await privateBpffs();
    await using state = await privateState();
    await using mirror = await tempDir("bpfxmirror-");
    await using t = await delegated(u, `${cg.root}/tenant`);
    const live = "job\u{fffd}";
    const mk = await u.run("bash", sh(`mkdir "$0/${live}"`, t.path));
    assert.equal(mk.code, 0, mk.stderr);
    const links = denyRule(t.path, b.path, state.path);
    const views = viewRule(t.path, b.path, mirror.path, state.path);
    const linkPin = `${b.path}/deny/${live}/deny`;
    const viewPin = `${b.path}/views/${live}/stat`;
    const viewFile = `${mirror.path}/${live}/stat`;
    try {
      for (const rule of [links, views]) {
        const r = JSON.parse(await cli([...rule, "--json"])) as Report;
        assert.deepEqual(r.made.map((i) => i.cgroup), [live]);
      }
      await using watcher = watch({ state: state.path });
      const seen = collect<WatchAction>(watcher);
      await eventually("started", () => seen.items.length > 0);
      // The user makes and removes job\xff, a few times, then makes "jobz":
      // once the watcher made jobz's link, it has taken every event before.
      const churn = await u.run(
        "bash",
        sh(
          `for i in 1 2 3; do mkdir "$0/job"$'\\xff' && rmdir "$0/job"$'\\xff' || exit 1; done; mkdir "$0/jobz"`,
          t.path,
        ),
      );
      assert.equal(churn.code, 0, churn.stderr);
      await eventually(
        () => `the watcher took jobz: ${JSON.stringify(seen.items)}`,
        () =>
          ["link-made", "view-made"].every((what) =>
            seen.items.some((a) => a.action === what && a.cgroup === "jobz")
          ),
        5,
      );
      const removed = seen.items.filter((a) =>
        a.action.endsWith("-removed") && a.cgroup === live
      );
      assert.deepEqual(removed, [], "nothing of the live cgroup is removed");
      assert.ok(await exists(linkPin), "the live cgroup's link is pinned");
      assert.ok(await exists(viewPin), "its view is pinned");
      assert.ok(await exists(viewFile), "its view is exposed");
      assert.match(await Deno.readTextFile(viewFile), /\S/);
      assert.deepEqual(await attached(t.path, `'${live}'`), [
        "cgroup_inet_sock_create",
      ]);
      const there = await inCgroup(t.path, `'${live}'`, UDP);
      assert.notEqual(there.code, 0, "UDP is still refused in job\\u{FFFD}");
      watcher.close();
    } finally {
      await cleanUp(state.path, `${b.path}/deny`);
      await cleanUp(state.path, `${b.path}/views`, mirror.path);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "names that bpffs encoding takes past NAME_MAX ('.' is %2E) get their links and views, and detach removes them all before it forgets the rules",
  async () => {
    await using u = await testUser();
    await using cg = await privateCgroups();
    await using b = await privateBpffs();
    await using state = await privateState();
    await using mirror = await tempDir("bpfxmirror-");
    await using t = await delegated(u, `${cg.root}/tenant`);
    // 124 bytes that encode to 364; 255 (NAME_MAX) that encode to 759; and
    // one inside the other.
    const long = `job${".".repeat(120)}x`;
    const longest = `job${".".repeat(252)}`;
    const rels = [long, longest, `${long}/${longest}`];
    const mk = await u.run(
      "bash",
      sh(`mkdir -p "$0/${long}/${longest}" "$0/${longest}"`, t.path),
    );
    assert.equal(mk.code, 0, mk.stderr);
    const links = denyRule(t.path, b.path, state.path);
    const views = viewRule(t.path, b.path, mirror.path, state.path);
    const manifest = async () =>
      JSON.parse(await Deno.readTextFile(`${state.path}/manifest.json`)) as {
        rules: unknown[];
      };
    try {
      for (const rule of [links, views]) {
        const r = JSON.parse(await cli([...rule, "--json"])) as Report;
        assert.deepEqual(r.skipped, []);
        assert.deepEqual(r.made.map((i) => i.cgroup).sort(), [...rels].sort());
      }
      for (const rel of rels) {
        const there = await inCgroup(t.path, `'${rel}'`, UDP);
        assert.notEqual(there.code, 0, `a UDP socket in ${rel.length} bytes`);
        assert.match(
          await Deno.readTextFile(`${mirror.path}/${rel}/stat`),
          /\S/,
        );
      }
      assert.equal((await manifest()).rules.length, 2);
      for (const [pinRoot, expose] of [["deny"], ["views", mirror.path]]) {
        const at = `${b.path}/${pinRoot}`;
        const r = JSON.parse(await cli(detachArgs(state.path, at, expose))) as {
          removed: { cgroup: string }[];
        };
        assert.deepEqual(
          r.removed.map((i) => i.cgroup).sort(),
          [...rels].sort(),
        );
        const left = await exists(at)
          ? [...Deno.readDirSync(at)].map((e) => e.name)
          : [];
        assert.deepEqual(left, [], `the pin tree ${pinRoot} is gone`);
      }
      assert.deepEqual((await manifest()).rules, []);
      assert.deepEqual([...Deno.readDirSync(mirror.path)], [], "the mirror");
      await eventually(
        "after detach, UDP is allowed again",
        async () => (await inCgroup(t.path, `'${long}'`, UDP)).code === 0,
      );
    } finally {
      await cleanUp(state.path, `${b.path}/deny`);
      await cleanUp(state.path, `${b.path}/views`, mirror.path);
    }
  },
  { needs: NEEDS },
);

/** What a terminal would act on: C0 but newline and tab, DEL, C1, bidi. */
// deno-lint-ignore no-control-regex
const RAW = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

kernelTest(
  "attach's summary escapes a tenant's cgroup names (ESC, OSC, C1, bidi, bytes that are not UTF-8) and tells job\\xff from job\\u{FFFD}",
  async () => {
    await using u = await testUser();
    await using cg = await privateCgroups();
    await using b = await privateBpffs();
    await using state = await privateState();
    await using mirror = await tempDir("bpfxmirror-");
    await using t = await delegated(u, `${cg.root}/tenant`);
    // Each name as bash source, as the CLI shows it, and as JSON gives it.
    const names: [string, string, string][] = [
      [`job$'\\xff'`, "job\\xff", "job\udcff"],
      [`'job\u{fffd}'`, "job\u{fffd}", "job\u{fffd}"],
      [`job$'\\e[2J\\xfe'`, "job\\x1b[2J\\xfe", "job\x1b[2J\udcfe"],
      [`job$'\\e]0;pwned\\a'`, "job\\x1b]0;pwned\\x07", "job\x1b]0;pwned\x07"],
      [`job$'\\xc2\\x9b31m'`, "job\\x9b31m", "job\u009b31m"],
      [`'job\u202egnp.exe'`, "job\\u{202e}gnp.exe", "job\u202egnp.exe"],
    ];
    const script = names.map(([n]) => `mkdir "$0/"${n} || exit 1`).join("\n");
    const mk = await u.run("bash", sh(script, t.path));
    assert.equal(mk.code, 0, mk.stderr);
    // A file that is not bpfx's where each view would be exposed: skipped.
    const files = names.map(([n]) =>
      `mkdir "$0/"${n} && echo no > "$0/"${n}/stat || exit 1`
    ).join("\n");
    const planted = await run("bash", sh(files, mirror.path));
    assert.equal(planted.code, 0, planted.stderr);
    const args = viewRule(t.path, b.path, mirror.path, state.path);
    try {
      const io = captureIo();
      assert.equal(await main(args, { io }), 0, io.stderr());
      const text = new TextDecoder().decode(io.stdout());
      const raw = (t: string) => t.split("\n").some((l) => RAW.test(l));
      assert.ok(!raw(text) && !raw(io.stderr()), JSON.stringify(text));
      assert.match(text, /^skipped {2}6$/m);
      for (const [, shown] of names) {
        assert.ok(text.includes(`skipped "${shown}": `), `${shown} in ${text}`);
      }
      const report = JSON.parse(await cli([...args, "--json"])) as Report;
      assert.deepEqual(
        report.skipped.map((s) => s.cgroup).sort(),
        names.map(([, , json]) => json).sort(),
      );
    } finally {
      await cleanUp(state.path, `${b.path}/views`, mirror.path);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "detach goes on past a view it cannot remove, names it, and keeps the rule until a second detach removes it",
  async () => {
    await using u = await testUser();
    await using cg = await privateCgroups();
    await using b = await privateBpffs();
    await using state = await privateState();
    await using mirror = await tempDir("bpfxmirror-");
    await using t = await delegated(u, `${cg.root}/tenant`);
    const rels = ["job.1", "job.2", "job.3"];
    const mk = await u.run(
      "bash",
      sh(`cd "$0" && mkdir ${rels.join(" ")}`, t.path),
    );
    assert.equal(mk.code, 0, mk.stderr);
    const pinRoot = `${b.path}/views`;
    const stuck = `${mirror.path}/job.2`;
    const manifest = async () =>
      JSON.parse(await Deno.readTextFile(`${state.path}/manifest.json`)) as {
        rules: unknown[];
      };
    try {
      const args = viewRule(t.path, b.path, mirror.path, state.path);
      const made = JSON.parse(await cli([...args, "--json"])) as Report;
      assert.deepEqual(made.made.map((i) => i.cgroup).sort(), rels);
      // An immutable directory: the symlink in it cannot be removed.
      assert.equal((await run("chattr", ["+i", stuck])).code, 0);
      const io = captureIo();
      const code = await main(detachArgs(state.path, pinRoot, mirror.path), {
        io,
      });
      assert.equal(code, 1, io.stderr());
      assert.match(
        io.stderr(),
        /1 of 3 views or links could not be removed, and the rules are kept .*\(2 removed\): Cannot remove ".*\/job\.2\/stat"/,
      );
      assert.ok(!(await exists(`${mirror.path}/job.1/stat`)), "job.1 went");
      assert.ok(!(await exists(`${mirror.path}/job.3/stat`)), "job.3 went");
      assert.ok(await exists(`${stuck}/stat`), "job.2's view is left");
      assert.equal((await manifest()).rules.length, 1, "the rule is kept");
      assert.equal((await run("chattr", ["-i", stuck])).code, 0);
      const again = JSON.parse(
        await cli(detachArgs(state.path, pinRoot, mirror.path)),
      ) as { removed: { cgroup: string }[] };
      assert.deepEqual(again.removed.map((i) => i.cgroup), ["job.2"]);
      assert.deepEqual((await manifest()).rules, []);
    } finally {
      await run("chattr", ["-i", stuck]);
      await cleanUp(state.path, pinRoot, mirror.path);
    }
  },
  { needs: NEEDS },
);
