// Root's file work against an unprivileged user who owns one directory on
// root's paths (issue 10): each attack, run for many rounds where it is a
// race, must fail safely and say so clearly. The user is made by each test
// (useradd) and removed in finally; its side runs under setpriv, and the
// rename-exchange loop is build/tests/swap (tests/helpers/swap.c).
import {
  attach,
  createView,
  detach,
  expose,
  exposures,
  readManifest,
  unexpose,
  watch,
} from "../mod.ts";
import {
  assert,
  collect,
  eventually,
  exists,
  kernelTest,
  mountpoints,
  privateBpffs,
  privateCgroups,
  privateState,
  rejected,
  ROOT,
  run,
  sleep,
  tempDir,
  tree,
} from "./_kernel.ts";
import { type TestUser, testUser } from "./_users.ts";

const TASKS = `${ROOT}/build/examples/tasks.bpf.o`;
const CGSTAT = `${ROOT}/build/examples/cgstat.bpf.o`;
/** What every test here needs: views of tasks and cgroups, and the watcher. */
const HARDEN_NEEDS = [
  "cgroup2",
  "iterator cgroup",
  "iterator cgroup parameters",
  "iterator task",
  "iterator task parameters",
  "fanotify bpffs",
  "fanotify cgroupfs",
] as const;
const SWAP = `${ROOT}/build/tests/swap`;

// ---------------------------------------------------------------------------
// Helpers

/** A directory the user owns, in a temporary directory root owns. */
async function userDir(
  u: TestUser,
): Promise<AsyncDisposable & { root: string; path: string }> {
  const t = await tempDir("bpfxharden-");
  await Deno.chmod(t.path, 0o755);
  const path = `${t.path}/user`;
  await Deno.mkdir(path);
  await Deno.chown(path, u.uid, u.gid);
  return {
    root: t.path,
    path,
    [Symbol.asyncDispose]: () => t[Symbol.asyncDispose](),
  };
}

/** The user's rename-exchange loop of `a` and `b`, for `seconds`. */
function swapping(u: TestUser, a: string, b: string, seconds: number) {
  const child = u.spawn(SWAP, [a, b, String(seconds)]);
  return {
    /** Waits for the loop's end; returns how many exchanges it made. */
    async done(): Promise<number> {
      const out = await child.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return Number(new TextDecoder().decode(out.stdout).split(" ")[0]);
    },
  };
}

async function mountedAt(path: string): Promise<boolean> {
  return (await mountpoints()).includes(path);
}

/** Unmounts every mount below `dir` (cleanup after a failure). */
async function unmountBelow(dir: string): Promise<void> {
  for (const p of (await mountpoints()).reverse()) {
    if (p.startsWith(`${dir}/`)) await run("umount", ["-l", p]);
  }
}

// ---------------------------------------------------------------------------
// Exposures

kernelTest(
  "unexpose under a rename-exchange loop never unmounts a mount bpfx did not make",
  async () => {
    await using u = await testUser();
    await using b = await privateBpffs();
    await using d = await userDir(u);
    await using state = await privateState();
    const pin = `${b.path}/tasks`;
    createView(`${TASKS}:tasks`, { pin });
    // Root's own mount, where the user's symlink leads.
    const theirs = `${d.root}/root`;
    await Deno.mkdir(`${theirs}/e`, { recursive: true });
    assert.equal(
      (await run("mount", ["-t", "tmpfs", "none", `${theirs}/e`])).code,
      0,
    );
    try {
      assert.equal((await u.run("mkdir", [`${d.path}/sub`])).code, 0);
      assert.equal(
        (await u.run("ln", ["-s", theirs, `${d.path}/evil`])).code,
        0,
      );
      const loop = swapping(u, `${d.path}/sub`, `${d.path}/evil`, 4);
      let made = 0, refused = 0;
      const deadline = performance.now() + 3500;
      for (let round = 0; performance.now() < deadline; round++) {
        const at = `${d.path}/sub/e`;
        try {
          expose(pin, { path: at, bind: true, state: state.path });
          made++;
        } catch (e) {
          refused++;
          assert.match(
            (e as Error).message,
            /a directory on the way to it is a symlink|a file is already there/,
          );
          continue;
        }
        // Its mount is followed by id; while the directory flips too fast
        // to open, unexpose says so and keeps the record, to try again.
        let x;
        for (let i = 0; x === undefined; i++) {
          try {
            x = unexpose(at, { state: state.path });
          } catch (e) {
            assert.match((e as Error).message, /keeps changing under it/);
            assert.ok(i < 100, "unexpose gets through");
          }
        }
        assert.equal(x.leftAlone, undefined, `round ${round}`);
        assert.ok(
          await mountedAt(`${theirs}/e`),
          `round ${round}: root's tmpfs is still mounted`,
        );
      }
      const swaps = await loop.done();
      assert.ok(swaps > 1000, `the user swapped ${swaps} times`);
      assert.ok(made > 5, `${made} exposures made, ${refused} refused`);
      console.log(`${swaps} swaps; ${made} exposures made, ${refused} refused`);
      assert.ok(await mountedAt(`${theirs}/e`), "root's tmpfs is mounted");
      assert.deepEqual(
        (await mountpoints()).filter((p) => p.startsWith(`${d.path}/`)),
        [],
        "no bind exposure is left",
      );
      assert.deepEqual(readManifest({ state: state.path }).exposures, []);
    } finally {
      await unmountBelow(d.path);
      await run("umount", [`${theirs}/e`]);
    }
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "a bind exposure whose directory the user moved is still removed when its pin goes",
  async () => {
    await using u = await testUser();
    await using b = await privateBpffs();
    await using d = await userDir(u);
    await using state = await privateState();
    const pin = `${b.path}/tasks`;
    createView(`${TASKS}:tasks`, { pin });
    try {
      assert.equal((await u.run("mkdir", [`${d.path}/sub`])).code, 0);
      expose(pin, { path: `${d.path}/sub/e`, bind: true, state: state.path });
      await using watcher = watch({ state: state.path });
      const seen = collect(watcher);
      await eventually("started", () => seen.items.length > 0);
      // The user moves the exposure's directory away and makes a new one.
      assert.equal(
        (await u.run("mv", [`${d.path}/sub`, `${d.path}/away`])).code,
        0,
      );
      assert.equal((await u.run("mkdir", [`${d.path}/sub`])).code, 0);
      assert.ok(await mountedAt(`${d.path}/away/e`));
      assert.deepEqual(
        exposures({ state: state.path }).map((x) => x.state),
        ["moved"],
      );
      await Deno.remove(pin);
      await eventually(
        "the moved mount is gone",
        async () => !(await mountedAt(`${d.path}/away/e`)),
      );
      await eventually(
        "the watcher reported it",
        () => seen.items.some((a) => a.action === "unexposed"),
      );
      const gone = seen.items.filter((a) => a.action === "unexposed");
      assert.equal(gone.length, 1);
      assert.match(gone[0]!.why, /had been moved to ".*\/away\/e"/);
      assert.ok(!(await exists(`${d.path}/away/e`)), "its placeholder went");
      assert.deepEqual(readManifest({ state: state.path }).exposures, []);
    } finally {
      await unmountBelow(d.path);
    }
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "a bind through a symlinked path to a pin behind a root-only directory, or of a user's pin, is refused",
  async () => {
    await using u = await testUser();
    await using b = await privateBpffs();
    await using d = await userDir(u);
    await using state = await privateState();
    await Deno.mkdir(`${b.path}/closed`, { mode: 0o700 });
    await Deno.chmod(`${b.path}/closed`, 0o700);
    const pin = `${b.path}/closed/tasks`;
    createView(`${TASKS}:tasks`, { pin });
    await Deno.chmod(pin, 0o644);
    // Another spelling of the same pin: a symlink straight to it.
    await Deno.symlink(pin, `${d.root}/alias`);
    try {
      for (const spelling of [pin, `${d.root}/alias`]) {
        const e = await rejected(() =>
          expose(spelling, {
            path: `${d.path}/e`,
            bind: true,
            state: state.path,
          })
        );
        assert.equal(e.kind, "permission");
        assert.match(
          e.message,
          /grants its group access that its directories withhold, so the bind mount would widen access/,
        );
      }
      await Deno.chmod(pin, 0o600);
      await Deno.chown(pin, u.uid, u.gid);
      const e = await rejected(() =>
        expose(`${d.root}/alias`, {
          path: `${d.path}/e`,
          bind: true,
          state: state.path,
        })
      );
      assert.match(e.message, new RegExp(`belongs to uid ${u.uid}`));
      assert.ok(!(await exists(`${d.path}/e`)), "nothing was made");
      assert.deepEqual(readManifest({ state: state.path }).exposures, []);
    } finally {
      await unmountBelow(d.path);
    }
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "a state directory the user owns or may write is refused, saying why",
  async () => {
    await using u = await testUser();
    await using b = await privateBpffs();
    await using d = await userDir(u);
    const pin = `${b.path}/tasks`;
    createView(`${TASKS}:tasks`, { pin });
    // The README's own example: a user made /tmp/state first.
    const e = await rejected(() =>
      expose(pin, { path: `${d.root}/x`, state: d.path })
    );
    assert.equal(e.kind, "permission");
    assert.equal(
      e.message,
      `Cannot trust state directory "${d.path}": it belongs to uid ${u.uid}, not to root`,
    );
    const open = `${d.root}/open`;
    await Deno.mkdir(open);
    await Deno.chmod(open, 0o777);
    const e2 = await rejected(() => watch({ state: open }));
    assert.match(e2.message, /group or others may write it \(mode 0777\)/);
    assert.ok(!(await exists(`${d.root}/x`)), "nothing was exposed");
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "a manifest naming a plain file, a foreign symlink and a tmpfs: the watcher reports them and leaves them alone",
  async () => {
    await using b = await privateBpffs();
    await using t = await tempDir("bpfxharden-");
    await using state = await privateState();
    const file = `${t.path}/plain`;
    await Deno.writeTextFile(file, "root's");
    const link = `${t.path}/link`;
    await Deno.symlink("/etc/hostname", link);
    const mnt = `${t.path}/mnt`;
    await Deno.mkdir(mnt);
    assert.equal((await run("mount", ["-t", "tmpfs", "none", mnt])).code, 0);
    try {
      // The tmpfs's real ids, as a forger would copy them.
      const st = (await run("stat", ["-c", "%d %i", mnt])).stdout.trim()
        .split(" ").map(Number);
      const mntId = Number(
        (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
          .find((l) => l.split(" ")[4] === mnt)?.split(" ")[0],
      );
      const x = (path: string, pin: string, mode: string, extra = {}) => ({
        pin,
        path,
        mode,
        objectId: 1,
        kind: "map",
        ...extra,
      });
      await Deno.writeTextFile(
        `${state.path}/manifest.json`,
        JSON.stringify({
          version: 1,
          exposures: [
            x(file, `${b.path}/gone`, "symlink"),
            x(link, "/etc/hostname", "symlink"),
            x(mnt, `${b.path}/gone2`, "bind", {
              mount: { mntId, dev: st[0], ino: st[1] },
            }),
          ],
          rules: [],
        }),
      );
      await using watcher = watch({ state: state.path });
      const seen = collect(watcher);
      await eventually(
        "three entries left alone",
        () => seen.items.filter((a) => a.action === "left-alone").length === 3,
      );
      assert.equal(await Deno.readTextFile(file), "root's");
      assert.equal(await Deno.readLink(link), "/etc/hostname");
      assert.ok(await mountedAt(mnt), "the tmpfs is still mounted");
      const why = seen.items.filter((a) => a.action === "left-alone")
        .map((a) => a.why).sort();
      assert.match(why.join("\n"), /it is not a symlink now/);
      assert.match(why.join("\n"), /the pin it names is not on bpffs/);
      assert.deepEqual(readManifest({ state: state.path }).exposures, []);
    } finally {
      await run("umount", [mnt]);
    }
  },
  { needs: HARDEN_NEEDS },
);

// ---------------------------------------------------------------------------
// Attach rules and their trees

kernelTest(
  "a symlink the user plants in an expose root is never written through, by attach or the watcher",
  async () => {
    await using u = await testUser();
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using d = await userDir(u);
    await using state = await privateState();
    const victim = `${d.root}/victim`;
    await Deno.mkdir(victim, { mode: 0o700 });
    await cg.make("a");
    await cg.make("b");
    assert.equal((await u.run("ln", ["-s", victim, `${d.path}/a`])).code, 0);
    const layout = {
      cgroupRoot: cg.root,
      pinRoot: `${b.path}/views`,
      exposeRoot: d.path,
      name: "stat",
      state: state.path,
    };
    const report = await attach(`${CGSTAT}:cgstat`, layout);
    assert.deepEqual(report.made.map((i) => i.cgroup).sort(), ["", "b"]);
    assert.equal(report.skipped.length, 1);
    assert.equal(report.skipped[0]?.cgroup, "a");
    assert.match(report.skipped[0]!.why, /symbolic links|symlink/);
    assert.equal(readManifest({ state: state.path }).rules.length, 1);
    await using watcher = watch({ state: state.path });
    const seen = collect(watcher);
    await eventually("started", () => seen.items.length > 0);
    assert.equal((await u.run("ln", ["-s", victim, `${d.path}/c`])).code, 0);
    await cg.make("c");
    await eventually(
      "the watcher skipped c",
      () => seen.items.some((a) => a.action === "skipped" && a.cgroup === "c"),
    );
    assert.deepEqual([...Deno.readDirSync(victim)], [], "nothing went there");
    await detach({ ...layout });
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "detach under a rename-exchange loop of a mirror directory never deletes root's file elsewhere; a pin root the user made is refused",
  async () => {
    await using u = await testUser();
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using d = await userDir(u);
    const victim = `${d.root}/victim`;
    await Deno.mkdir(victim);
    await Deno.writeTextFile(`${victim}/stat`, "root's");
    await cg.make("a");
    const layout = {
      cgroupRoot: cg.root,
      pinRoot: `${b.path}/views`,
      exposeRoot: d.path,
      name: "stat",
    };
    assert.equal((await u.run("ln", ["-s", victim, `${d.path}/evil`])).code, 0);
    await Deno.mkdir(`${d.path}/a`);
    await Deno.chown(`${d.path}/a`, u.uid, u.gid);
    const loop = swapping(u, `${d.path}/a`, `${d.path}/evil`, 3);
    let rounds = 0, mirrored = 0;
    for (
      const deadline = performance.now() + 2800;
      performance.now() < deadline;
    ) {
      const r = await attach(`${CGSTAT}:cgstat`, layout);
      if (r.made.some((i) => i.cgroup === "a")) mirrored++;
      await detach(layout);
      rounds++;
      assert.equal(
        await Deno.readTextFile(`${victim}/stat`),
        "root's",
        `round ${rounds}`,
      );
    }
    const swaps = await loop.done();
    console.log(
      `${swaps} swaps; ${rounds} rounds, "a" mirrored in ${mirrored}`,
    );
    assert.ok(mirrored > 0, "some rounds made the view of a");
    assert.ok(rounds >= 5, `${rounds} rounds`);
    assert.deepEqual(await tree(`${b.path}/views`), [], "no view is left");
    await Deno.remove(`${b.path}/views`);
    // A plain bpffs mount is 1777: the user makes the pin root first.
    await Deno.chmod(b.path, 0o1777);
    assert.equal((await u.run("mkdir", [`${b.path}/views`])).code, 0);
    const e = await rejected(() => attach(`${CGSTAT}:cgstat`, layout));
    assert.equal(e.kind, "permission");
    assert.equal(
      e.message,
      `Cannot use pin root "${b.path}/views": it belongs to uid ${u.uid}`,
    );
    await Deno.remove(`${b.path}/views`);
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "a cgroup that cannot get a view is skipped and reported, and the rest is done (a name over NAME_MAX once encoded gets one); the rule stores the canonical root",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using t = await tempDir("bpfxmirror-");
    await using state = await privateState();
    // Encoded for bpffs, 100 dots take 300 bytes: over NAME_MAX, split over
    // two pin-tree directories.
    const long = ".".repeat(1) + "x" + ".".repeat(99);
    await cg.make(long);
    await cg.make("a/stat"); // a child named like the view
    await cg.make("b");
    await Deno.symlink(cg.root, `${t.path}/cglink`);
    const layout = {
      cgroupRoot: `${t.path}/cglink/b/..`,
      pinRoot: `${b.path}/views`,
      exposeRoot: `${t.path}/m`,
      name: "stat",
      state: state.path,
    };
    const report = await attach(`${CGSTAT}:cgstat`, layout);
    assert.deepEqual(report.skipped.map((s) => s.cgroup), ["a/stat"]);
    assert.deepEqual(
      report.made.map((i) => i.cgroup).sort(),
      ["", long, "a", "b"].sort(),
    );
    assert.ok(await exists(`${t.path}/m/${long}/stat`));
    assert.equal(
      readManifest({ state: state.path }).rules[0]?.cgroupRoot,
      cg.root,
    );
    // The watcher matches the rule, and skips what it cannot do.
    await using watcher = watch({ state: state.path });
    const seen = collect(watcher);
    await eventually("started", () => seen.items.length > 0);
    await cg.make("c");
    await eventually(
      "c gets a view",
      () => exists(`${t.path}/m/c/stat`),
    );
    await eventually(
      "the watcher reported what it skipped",
      () => seen.items.some((a) => a.action === "skipped"),
    );
    // The rule's root goes: its root view goes with it.
    await detach({ ...layout, state: undefined } as never).catch(() => {});
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "detach during a burst of 3,000 mkdirs with the watcher running leaves no view",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using t = await tempDir("bpfxmirror-");
    await using state = await privateState();
    const layout = {
      cgroupRoot: cg.root,
      pinRoot: `${b.path}/views`,
      exposeRoot: `${t.path}/m`,
      name: "stat",
      state: state.path,
    };
    await attach(`${CGSTAT}:cgstat`, layout);
    await using watcher = watch({ state: state.path });
    const seen = collect(watcher);
    await eventually("started", () => seen.items.length > 0);
    const burst = (async () => {
      for (let i = 0; i < 3000; i++) await Deno.mkdir(`${cg.root}/c${i}`);
    })();
    await eventually(
      "the watcher is working",
      () => seen.items.filter((a) => a.action === "view-made").length > 50,
      10,
    );
    await detach(layout);
    const left = async () => {
      const pins = await exists(`${b.path}/views`)
        ? [...Deno.readDirSync(`${b.path}/views`)].length
        : 0;
      const mirror = await exists(`${t.path}/m`)
        ? [...Deno.readDirSync(`${t.path}/m`)].length
        : 0;
      return pins + mirror;
    };
    assert.equal(await left(), 0, "nothing left when detach returns");
    await burst;
    await sleep(300);
    assert.equal(await left(), 0, "and the watcher made nothing after");
    assert.deepEqual(readManifest({ state: state.path }).rules, []);
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "two attaches of one rule at once both succeed and leave every view",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using t = await tempDir("bpfxmirror-");
    await using state = await privateState();
    for (let i = 0; i < 40; i++) await cg.make(`c${i}`);
    const layout = {
      cgroupRoot: cg.root,
      pinRoot: `${b.path}/views`,
      exposeRoot: `${t.path}/m`,
      name: "stat",
      state: state.path,
    };
    const [one, two] = await Promise.all([
      attach(`${CGSTAT}:cgstat`, layout),
      attach(`${CGSTAT}:cgstat`, layout),
    ]);
    assert.equal(one.made.length + two.made.length, 41);
    assert.equal(one.skipped.length + two.skipped.length, 0);
    for (let i = 0; i < 40; i++) {
      assert.equal(
        await Deno.readLink(`${t.path}/m/c${i}/stat`),
        `${b.path}/views/c${i}/stat`,
      );
    }
    await detach(layout);
  },
  { needs: HARDEN_NEEDS },
);

kernelTest(
  "the watcher: a pin replaced by rename is gone; a removed rule root loses its view; a state directory moved away, or removed, and made again is taken up",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using t = await tempDir("bpfxharden-");
    const state = `${t.path}/state`;
    const pin = `${b.path}/tasks`;
    createView(`${TASKS}:tasks`, { pin });
    createView(`${TASKS}:tasks`, { pin: `${b.path}/new` });
    expose(pin, { path: `${t.path}/x`, state });
    await cg.make("r");
    const layout = {
      cgroupRoot: `${cg.root}/r`,
      pinRoot: `${b.path}/views`,
      exposeRoot: `${t.path}/m`,
      name: "stat",
      state,
    };
    await attach(`${CGSTAT}:cgstat`, layout);
    await using watcher = watch({ state });
    const seen = collect(watcher);
    await eventually("started", () => seen.items.length > 0);
    // mv new old: the symlink would now show another object.
    await Deno.rename(`${b.path}/new`, pin);
    await eventually(
      "the exposure went",
      async () => !(await exists(`${t.path}/x`)),
    );
    // The rule's root goes.
    assert.ok(await exists(`${t.path}/m/stat`));
    await cg.remove("r");
    await eventually(
      "its root view went",
      async () => !(await exists(`${t.path}/m/stat`)),
    );
    // The state directory is replaced.
    await Deno.rename(state, `${t.path}/old-state`);
    await Deno.mkdir(state, { mode: 0o700 });
    await eventually(
      "the watcher took the new directory",
      () => seen.items.some((a) => a.action === "rearmed"),
    );
    expose(pin, { path: `${t.path}/y`, state });
    await Deno.remove(pin);
    await eventually(
      "the new manifest is acted on",
      async () => !(await exists(`${t.path}/y`)),
    );
    // Removed, then made again. The watcher may make its lock file in it
    // while it goes, as `rm -rf` would find too: try again.
    for (let i = 0; await exists(state); i++) {
      await Deno.remove(state, { recursive: true }).catch((e) => {
        if (i > 50) throw e;
      });
    }
    await eventually(
      "the watcher saw it go",
      () => seen.items.some((a) => a.action === "state-gone"),
    );
    await Deno.mkdir(state, { mode: 0o700 });
    await eventually(
      "and took up the new one",
      () => seen.items.filter((a) => a.action === "rearmed").length === 2,
    );
    createView(`${TASKS}:tasks`, { pin });
    expose(pin, { path: `${t.path}/z`, state });
    await Deno.remove(pin);
    await eventually(
      "the third manifest is acted on",
      async () => !(await exists(`${t.path}/z`)),
    );
    await Deno.remove(`${t.path}/old-state`, { recursive: true });
  },
  { needs: HARDEN_NEEDS },
);
