// Holes of the second hardening round (issue 25, items 4, 5, 6 and 8) that
// a tenant opens with the names of the cgroups it makes: names that are not
// UTF-8, two names that a lossy decoding makes one, names bpffs encoding
// makes longer, and escapes bound for root's terminal. Each test makes a
// real unprivileged user (useradd) and delegates a cgroup to it; the user
// makes the hostile cgroups itself (setpriv). Each test makes its own
// bpffs, cgroups and state directory, and removes them in finally.
import { main } from "../cli.ts";
import {
  type FsEvent,
  nameBytes,
  watch,
  type WatchAction,
  watchFs,
} from "../mod.ts";
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
import { delegated, sh, type TestUser, testUser } from "./_users.ts";

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

/**
 * What each test here works in: a user with a cgroup delegated to it
 * (`root`, its own subtree's `tenant`), a private bpffs, a state directory
 * and a mirror; disposed in the reverse order.
 */
interface Tenant extends AsyncDisposable {
  readonly u: TestUser;
  /** The delegated cgroup. */
  readonly root: string;
  readonly bpffs: string;
  readonly state: string;
  readonly mirror: string;
  /** The manifest's rules. */
  rules(): Promise<unknown[]>;
}

async function tenant(): Promise<Tenant> {
  const stack = new AsyncDisposableStack();
  try {
    const u = stack.use(await testUser());
    const cg = stack.use(await privateCgroups());
    const b = stack.use(await privateBpffs());
    const state = stack.use(await privateState());
    const mirror = stack.use(await tempDir("bpfxmirror-"));
    const t = stack.use(await delegated(u, `${cg.root}/tenant`));
    const moved = stack.move();
    return {
      u,
      root: t.path,
      bpffs: b.path,
      state: state.path,
      mirror: mirror.path,
      async rules() {
        const text = await Deno.readTextFile(`${state.path}/manifest.json`);
        return (JSON.parse(text) as { rules: unknown[] }).rules;
      },
      [Symbol.asyncDispose]: () => moved.disposeAsync(),
    };
  } catch (e) {
    await stack.disposeAsync();
    throw e;
  }
}

interface Report {
  made: { cgroup: string }[];
  kept: { cgroup: string }[];
  skipped: { cgroup: string; why: string }[];
}

kernelTest(
  "a --match 'job*' link rule gives a tenant's job\\xff its deny-UDP link, at attach and from the watcher, and reports the name's bytes",
  async () => {
    await using x = await tenant();
    const made = await x.u.run("bash", sh(`mkdir "$0/job"$'\\xff'`, x.root));
    assert.equal(made.code, 0, made.stderr);
    const rule = denyRule(x.root, x.bpffs, x.state);
    try {
      const report = JSON.parse(await cli([...rule, "--json"])) as Report;
      assert.deepEqual(report.skipped, []);
      assert.deepEqual(report.made.map((i) => i.cgroup), ["job\udcff"]);
      assert.deepEqual(
        [...nameBytes(report.made[0]!.cgroup)],
        [0x6a, 0x6f, 0x62, 0xff],
      );
      assert.deepEqual(await attached(x.root, `job$'\\xff'`), [
        "cgroup_inet_sock_create",
      ]);
      const there = await inCgroup(x.root, `job$'\\xff'`, UDP);
      assert.notEqual(there.code, 0, "a UDP socket in job\\xff");
      assert.match(there.stderr, /Operation not permitted/);
      // The pin's directory is the name encoded for bpffs.
      assert.ok(await exists(`${x.bpffs}/deny/job%FF/deny`));

      // The watcher: a cgroup the user makes afterwards gets its link too.
      await using watcher = watch({ state: x.state });
      const seen = collect<WatchAction>(watcher);
      await eventually("started", () => seen.items.length > 0);
      const mk = await x.u.run("bash", sh(`mkdir "$0/jobs"$'\\xfe'`, x.root));
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
      const later = await inCgroup(x.root, `jobs$'\\xfe'`, UDP);
      assert.notEqual(later.code, 0, "a UDP socket in jobs\\xfe");
      assert.equal(
        (await inCgroup(x.root, "", UDP)).code,
        0,
        "the tenant's own cgroup is not selected",
      );
      watcher.close();
    } finally {
      await cleanUp(x.state, `${x.bpffs}/deny`);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "a tenant's mkdir and rmdir of job\\xff never removes the link and view of its live job\\u{FFFD}",
  async () => {
    await using x = await tenant();
    const live = "job\u{fffd}";
    const mk = await x.u.run("bash", sh(`mkdir "$0/${live}"`, x.root));
    assert.equal(mk.code, 0, mk.stderr);
    const links = denyRule(x.root, x.bpffs, x.state);
    const views = viewRule(x.root, x.bpffs, x.mirror, x.state);
    const linkPin = `${x.bpffs}/deny/${live}/deny`;
    const viewPin = `${x.bpffs}/views/${live}/stat`;
    const viewFile = `${x.mirror}/${live}/stat`;
    try {
      for (const rule of [links, views]) {
        const r = JSON.parse(await cli([...rule, "--json"])) as Report;
        assert.deepEqual(r.made.map((i) => i.cgroup), [live]);
      }
      await using watcher = watch({ state: x.state });
      const seen = collect<WatchAction>(watcher);
      await eventually("started", () => seen.items.length > 0);
      // The user makes and removes job\xff, a few times, then makes "jobz":
      // once the watcher made jobz's link, it has taken every event before.
      const churn = await x.u.run(
        "bash",
        sh(
          `for i in 1 2 3; do mkdir "$0/job"$'\\xff' && rmdir "$0/job"$'\\xff' || exit 1; done; mkdir "$0/jobz"`,
          x.root,
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
      assert.deepEqual(await attached(x.root, `'${live}'`), [
        "cgroup_inet_sock_create",
      ]);
      const there = await inCgroup(x.root, `'${live}'`, UDP);
      assert.notEqual(there.code, 0, "UDP is still refused in job\\u{FFFD}");
      watcher.close();
    } finally {
      await cleanUp(x.state, `${x.bpffs}/deny`);
      await cleanUp(x.state, `${x.bpffs}/views`, x.mirror);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "names that bpffs encoding takes past NAME_MAX ('.' is %2E) get their links and views, and detach removes them all before it forgets the rules",
  async () => {
    await using x = await tenant();
    // 124 bytes that encode to 364; 255 (NAME_MAX) that encode to 759; and
    // one inside the other.
    const long = `job${".".repeat(120)}x`;
    const longest = `job${".".repeat(252)}`;
    const rels = [long, longest, `${long}/${longest}`];
    const mk = await x.u.run(
      "bash",
      sh(`mkdir -p "$0/${long}/${longest}" "$0/${longest}"`, x.root),
    );
    assert.equal(mk.code, 0, mk.stderr);
    const links = denyRule(x.root, x.bpffs, x.state);
    const views = viewRule(x.root, x.bpffs, x.mirror, x.state);
    try {
      for (const rule of [links, views]) {
        const r = JSON.parse(await cli([...rule, "--json"])) as Report;
        assert.deepEqual(r.skipped, []);
        assert.deepEqual(r.made.map((i) => i.cgroup).sort(), [...rels].sort());
      }
      for (const rel of rels) {
        const there = await inCgroup(x.root, `'${rel}'`, UDP);
        assert.notEqual(there.code, 0, `a UDP socket in ${rel.length} bytes`);
        assert.match(
          await Deno.readTextFile(`${x.mirror}/${rel}/stat`),
          /\S/,
        );
      }
      assert.equal((await x.rules()).length, 2);
      for (const [pinRoot, expose] of [["deny"], ["views", x.mirror]]) {
        const at = `${x.bpffs}/${pinRoot}`;
        const r = JSON.parse(await cli(detachArgs(x.state, at, expose))) as {
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
      assert.deepEqual(await x.rules(), []);
      assert.deepEqual([...Deno.readDirSync(x.mirror)], [], "the mirror");
      await eventually(
        "after detach, UDP is allowed again",
        async () => (await inCgroup(x.root, `'${long}'`, UDP)).code === 0,
      );
    } finally {
      await cleanUp(x.state, `${x.bpffs}/deny`);
      await cleanUp(x.state, `${x.bpffs}/views`, x.mirror);
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
    await using x = await tenant();
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
    const mk = await x.u.run("bash", sh(script, x.root));
    assert.equal(mk.code, 0, mk.stderr);
    // A file that is not bpfx's where each view would be exposed: skipped.
    const files = names.map(([n]) =>
      `mkdir "$0/"${n} && echo no > "$0/"${n}/stat || exit 1`
    ).join("\n");
    const planted = await run("bash", sh(files, x.mirror));
    assert.equal(planted.code, 0, planted.stderr);
    const args = viewRule(x.root, x.bpffs, x.mirror, x.state);
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
      await cleanUp(x.state, `${x.bpffs}/views`, x.mirror);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "detach goes on past a view it cannot remove, names it, and keeps the rule until a second detach removes it",
  async () => {
    await using x = await tenant();
    const rels = ["job.1", "job.2", "job.3"];
    const mk = await x.u.run(
      "bash",
      sh(`cd "$0" && mkdir ${rels.join(" ")}`, x.root),
    );
    assert.equal(mk.code, 0, mk.stderr);
    const pinRoot = `${x.bpffs}/views`;
    const stuck = `${x.mirror}/job.2`;
    try {
      const args = viewRule(x.root, x.bpffs, x.mirror, x.state);
      const made = JSON.parse(await cli([...args, "--json"])) as Report;
      assert.deepEqual(made.made.map((i) => i.cgroup).sort(), rels);
      // An immutable directory: the symlink in it cannot be removed.
      assert.equal((await run("chattr", ["+i", stuck])).code, 0);
      const io = captureIo();
      const code = await main(detachArgs(x.state, pinRoot, x.mirror), {
        io,
      });
      assert.equal(code, 1, io.stderr());
      assert.match(
        io.stderr(),
        /1 of 3 views or links could not be removed, and the rules are kept .*\(2 removed\): Cannot remove ".*\/job\.2\/stat"/,
      );
      assert.ok(!(await exists(`${x.mirror}/job.1/stat`)), "job.1 went");
      assert.ok(!(await exists(`${x.mirror}/job.3/stat`)), "job.3 went");
      assert.ok(await exists(`${stuck}/stat`), "job.2's view is left");
      assert.equal((await x.rules()).length, 1, "the rule is kept");
      assert.equal((await run("chattr", ["-i", stuck])).code, 0);
      const again = JSON.parse(
        await cli(detachArgs(x.state, pinRoot, x.mirror)),
      ) as { removed: { cgroup: string }[] };
      assert.deepEqual(again.removed.map((i) => i.cgroup), ["job.2"]);
      assert.deepEqual(await x.rules(), []);
    } finally {
      await run("chattr", ["-i", stuck]);
      await cleanUp(x.state, pinRoot, x.mirror);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "watchFs() reports a tenant's cgroups named job\\xff and job\\u{FFFD} apart, each with its bytes",
  async () => {
    await using x = await tenant();
    await using events = watchFs([x.root]);
    const seen = collect<FsEvent>(events);
    const mk = await x.u.run(
      "bash",
      sh(`mkdir "$0/job"$'\\xff' "$0/job"$'\\xef\\xbf\\xbd'`, x.root),
    );
    assert.equal(mk.code, 0, mk.stderr);
    await eventually(
      () => `both created: ${JSON.stringify(seen.items)}`,
      () => seen.items.filter((e) => e.event === "created").length === 2,
    );
    const made = seen.items.map((e) => nameBytes(e.path ?? "")).map((
      b,
    ) => [...b.subarray(b.length - 4)]);
    assert.deepEqual(
      made.sort(),
      [[0x62, 0xef, 0xbf, 0xbd], [0x6a, 0x6f, 0x62, 0xff]].sort(),
    );
    events.close();
    await seen.done;
  },
  { needs: NEEDS },
);
