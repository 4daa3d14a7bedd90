// Exposures inside containers, against the real kernel and real runc
// containers (busybox, tests/_containers.ts): each test with its own bpffs,
// cgroup subtree, state directory and containers, all removed in finally.
import {
  attach,
  createView,
  detach,
  expose,
  exposures,
  readManifest,
  unexpose,
  watch,
  type WatchAction,
} from "../mod.ts";
import { main } from "../cli.ts";
import {
  assert,
  captureIo,
  child,
  collect,
  eventually,
  inode,
  kernelTest,
  mountpoints,
  privateBpffs,
  privateCgroups,
  privateState,
  rejected,
  ROOT,
  tempDir,
  tree,
} from "./_kernel.ts";
import { type Container, runcContainer } from "./_containers.ts";

const TASKS = `${ROOT}/build/examples/tasks.bpf.o`;
/** What a test of a task view exposed into a container needs. */
const NEEDS = [
  "iterator task",
  "iterator task parameters",
  "cgroup2",
  "mount namespaces",
] as const;

/** The mount points inside a container (its /proc/self/mountinfo). */
async function mountsIn(c: Container): Promise<string[]> {
  const r = await c.exec(["cat", "/proc/self/mountinfo"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l !== "").map((l) =>
    l.split(" ")[4] ?? ""
  );
}

/** What is in a directory inside a container (`ls -A`), sorted. */
async function lsIn(c: Container, dir: string): Promise<string[]> {
  const r = await c.exec(["ls", "-A", dir]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l !== "").sort();
}

/** The host's mounts of bpffs objects below `dir` (none may be left). */
async function hostMountsBelow(dir: string): Promise<string[]> {
  return (await mountpoints()).filter((m) => m.startsWith(`${dir}/`));
}

/** The child of `pid` once it has exited unreaped (state `Z`). */
async function zombieOf(pid: number): Promise<number> {
  let found = 0;
  await eventually(`a zombie child of ${pid}`, async () => {
    const kids = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`)
      .catch(() => "");
    for (const k of kids.split(" ").filter((k) => k !== "")) {
      const stat = await Deno.readTextFile(`/proc/${k}/stat`).catch(() => "");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) {
        found = Number(k);
        return true;
      }
    }
    return false;
  });
  return found;
}

function of(actions: readonly WatchAction[], action: string): WatchAction[] {
  return actions.filter((a) => a.action === action);
}

/**
 * What a test of an exposure into one container runs in: a private bpffs
 * with a view of every task pinned at `pin`, a state directory, a cgroup
 * subtree and a running container in its cgroup `rel`, removed in reverse
 * order when disposed.
 */
interface IntoSetup extends AsyncDisposable {
  readonly b: { readonly path: string };
  readonly state: { readonly path: string };
  readonly c: Container;
  readonly pin: string;
  readonly view: ReturnType<typeof createView>;
}

async function intoSetup(rel: string): Promise<IntoSetup> {
  await using stack = new AsyncDisposableStack();
  const b = stack.use(await privateBpffs());
  const state = stack.use(await privateState());
  const cg = stack.use(await privateCgroups());
  const c = stack.use(await runcContainer(cg, rel));
  const pin = `${b.path}/tasks`;
  // A view of every task: read inside the container, the iterator walks
  // the reader's pid namespace, so it lists the container's own tasks.
  // (A view limited by `pid` looks that number up in the reader's pid
  // namespace too, where the host's PID of the container means nothing.)
  const view = createView(`${TASKS}:tasks`, { pin });
  const owned = stack.move();
  return {
    b,
    state,
    c,
    pin,
    view,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

kernelTest(
  "expose({ into }) puts a task view of a container's process inside it, and the watcher removes it there when the pin goes",
  async () => {
    await using setup = await intoSetup("web");
    const { state, c, pin, view } = setup;
    const path = "/run/bpfx/tasks";
    const x = expose(pin, {
      path,
      into: c.pid,
      parents: true,
      state: state.path,
    });
    assert.equal(x.mode, "bind");
    assert.equal(x.objectId, view.id);
    assert.equal(x.into?.pid, c.pid);
    const ns = await Deno.stat(`/proc/${c.pid}/ns/mnt`);
    assert.equal(x.into?.mntNs, ns.ino);
    // Read inside the container: the view of its own process.
    const read = await c.exec(["cat", path]);
    assert.equal(read.code, 0, read.stderr);
    const rows = read.stdout.trimEnd().split("\n");
    assert.match(rows[0] ?? "", /^\s+tid\s+tgid/);
    const tgids = rows.slice(1).map((r) => r.trim().split(/\s+/)[1]);
    assert.ok(
      tgids.includes(String(c.pid)) && !tgids.includes(String(Deno.pid)),
      `the view lists the container's init ${c.pid}, not the host's tasks:\n${read.stdout}`,
    );
    // Read-only inside: the container's root cannot change the pin's mode.
    const chmod = await c.exec(["sh", "-c", `chmod 666 ${path}`]);
    assert.notEqual(chmod.code, 0, "chmod through the exposure is refused");
    assert.equal((await Deno.stat(pin)).mode! & 0o777, 0o600);
    assert.ok((await mountsIn(c)).includes(path));
    assert.deepEqual(await hostMountsBelow("/run/bpfx"), []);
    assert.deepEqual(
      exposures({ state: state.path }).map((e) => [e.path, e.state, e.into]),
      [[path, "ok", x.into]],
    );

    await using watcher = watch({ state: state.path });
    const seen = collect(watcher);
    await eventually("the watcher started", () => seen.items.length > 0);
    await Deno.remove(pin);
    await eventually(
      () =>
        `the exposure is gone inside the container: ${
          JSON.stringify(seen.items)
        }`,
      async () => (await lsIn(c, "/run/bpfx")).length === 0,
    );
    assert.ok(!(await mountsIn(c)).includes(path), "unmounted inside");
    await eventually(
      "the watcher reported it",
      () => of(seen.items, "unexposed").length === 1,
    );
    assert.deepEqual(readManifest({ state: state.path }).exposures, []);
    await watcher[Symbol.asyncDispose]();
    await seen.done;
  },
  { needs: NEEDS },
);

kernelTest(
  "the watcher forgets an exposure inside a container once the container exits, and bpfx exposures shows PID and namespace",
  async () => {
    await using setup = await intoSetup("job");
    const { b, state, c, pin } = setup;
    const io = captureIo();
    assert.equal(
      await main([
        "expose",
        pin,
        "/run/tasks",
        "--into",
        String(c.pid),
        "--state",
        state.path,
      ], { io }),
      0,
      io.stderr(),
    );
    const ns = await Deno.stat(`/proc/${c.pid}/ns/mnt`);
    const listed = captureIo();
    assert.equal(
      await main(["exposures", "--state", state.path], { io: listed }),
      0,
    );
    const text = new TextDecoder().decode(listed.stdout());
    assert.match(text, /^PATH\s+MODE\s+PIN\s+KIND\s+STATE\s+IN\s*$/m);
    assert.match(
      text,
      new RegExp(
        `^/run/tasks\\s+bind\\s+\\S+\\s+link\\s+ok\\s+pid ${c.pid} mnt:\\[${ns.ino}\\]\\s*$`,
        "m",
      ),
    );
    await using watcher = watch({ state: state.path });
    const seen = collect(watcher);
    await eventually("the watcher started", () => seen.items.length > 0);
    await c.stop();
    await eventually(
      "the watcher forgot the exposure",
      () => of(seen.items, "forgotten").length === 1,
    );
    assert.deepEqual(readManifest({ state: state.path }).exposures, []);
    assert.deepEqual(await hostMountsBelow(b.path), []);
    await watcher[Symbol.asyncDispose]();
    await seen.done;
  },
  { needs: NEEDS },
);

kernelTest(
  "expose({ into }) refuses a missing PID, one that exited midway, bpfx's own namespace, a reused PID, a symlink on the way, a read-only root (with a hint) and a file in place, leaving nothing behind",
  async () => {
    await using setup = await intoSetup("app");
    const { state, c, pin } = setup;
    const opts = { state: state.path };
    assert.equal((await c.exec(["ln", "-s", "/tmp", "/run/link"])).code, 0);
    assert.equal((await c.exec(["mkdir", "/run/d"])).code, 0);
    const before = await mountsIn(c);
    const runBefore = await lsIn(c, "/run");
    const start = Number(
      (await Deno.readTextFile(`/proc/${c.pid}/stat`)).split(") ")[1]
        ?.split(" ")[19],
    );
    // A process that has exited but is not reaped yet (a zombie: its
    // parent, `sleep`, never waits): it still has its PID and takes a
    // pidfd and signals, but its namespaces are gone.
    await using parent = child("sh", ["-c", "true & exec sleep 100"]);
    const zombie = await zombieOf(parent.pid);
    const cases: [string, () => unknown, string, RegExp][] = [
      [
        "a PID that exited midway",
        () => expose(pin, { ...opts, path: "/run/x", into: zombie }),
        "not-found",
        /^Cannot expose into process \d+: the process exited midway$/,
      ],
      [
        "a missing PID",
        () => expose(pin, { ...opts, path: "/run/x", into: 0x3fffff }),
        "not-found",
        /^Cannot expose into process 4194303: no such process$/,
      ],
      [
        "bpfx's own namespace",
        () => expose(pin, { ...opts, path: "/run/x", into: Deno.pid }),
        "invalid",
        /: it is in bpfx's own mount namespace, not a container's$/,
      ],
      [
        "a reused PID",
        () =>
          expose(pin, {
            ...opts,
            path: "/run/x",
            into: { pid: c.pid, startTime: start + 1 },
          }),
        "not-found",
        /now names another process .*: the PID was reused$/,
      ],
      [
        "a symlink on the way",
        () => expose(pin, { ...opts, path: "/run/link/x", into: c.pid }),
        "invalid",
        /^Cannot expose at "\/run\/link\/x" in process \d+'s mount namespace: a directory on the way to it is a symlink$/,
      ],
      [
        "a symlink on the way, with --parents",
        () =>
          expose(pin, {
            ...opts,
            path: "/run/link/new/x",
            into: c.pid,
            parents: true,
          }),
        "invalid",
        /: a directory on the way to it is a symlink$/,
      ],
      [
        "a missing directory, without --parents",
        () => expose(pin, { ...opts, path: "/run/d/new/x", into: c.pid }),
        "not-found",
        /: the directory "\/run\/d\/new" does not exist there$/,
      ],
      [
        "a read-only root (runc spec's), with --parents",
        () =>
          expose(pin, {
            ...opts,
            path: "/srv/new/x",
            into: c.pid,
            parents: true,
          }),
        "os",
        /^Cannot expose at "\/srv\/new\/x" in process \d+'s mount namespace: the container's filesystem is read-only there$/,
      ],
      [
        "a read-only root (runc spec's)",
        () => expose(pin, { ...opts, path: "/x", into: c.pid }),
        "os",
        /^Cannot expose at "\/x" in process \d+'s mount namespace: the container's filesystem is read-only there$/,
      ],
      [
        "a file in place",
        () => expose(pin, { ...opts, path: "/bin/busybox", into: c.pid }),
        "exists",
        /^Cannot expose at "\/bin\/busybox" in process \d+'s mount namespace: a file is already there, and bpfx never replaces one$/,
      ],
    ];
    for (const [what, fn, kind, message] of cases) {
      const e = await rejected(fn);
      assert.equal(e.kind, kind, `${what}: ${e.message}`);
      assert.match(e.message, message, what);
      if (what.startsWith("a read-only root")) {
        assert.equal(e.errno, 30, what); // EROFS
        assert.match(
          e.hint ?? "",
          /"root": \{"readonly": false\} in its config\.json.*a tmpfs at \/run$/,
          what,
        );
      }
      assert.deepEqual(readManifest(opts).exposures, [], what);
      assert.deepEqual(await mountsIn(c), before, what);
      assert.deepEqual(await lsIn(c, "/run"), runBefore, what);
      assert.deepEqual(await lsIn(c, "/run/d"), [], what);
    }
    // The same pin, twice at one path: the second is refused.
    expose(pin, { ...opts, path: "/run/d/x", into: c.pid });
    const twice = await rejected(() =>
      expose(pin, { ...opts, path: "/run/d/x", into: c.pid })
    );
    assert.equal(twice.kind, "exists");
    assert.equal(readManifest(opts).exposures.length, 1);
    // Not on the host, nor in another PID's container: refused.
    const host = await rejected(() => unexpose("/run/d/x", opts));
    assert.equal(host.kind, "not-found");
    // Through the command line, in the container recorded.
    const io = captureIo();
    const argv = ["unexpose", "/run/d/x", "--into", String(c.pid)];
    assert.equal(
      await main([...argv, "--state", state.path, "--json"], { io }),
      0,
      io.stderr(),
    );
    const gone = JSON.parse(new TextDecoder().decode(io.stdout()));
    assert.equal(gone.into.pid, c.pid);
    assert.equal(gone.left_alone, undefined);
    assert.deepEqual(await lsIn(c, "/run/d"), []);
    assert.deepEqual(await mountsIn(c), before);
  },
  { needs: NEEDS },
);

kernelTest(
  "expose({ into }) of processes that exit while it works: each is made whole or refused, and nothing is left",
  async () => {
    await using b = await privateBpffs();
    await using state = await privateState();
    // The processes' namespaces are copies of the host's: `at` is the same
    // directory in them, so what each exposure leaves on the filesystem
    // (the empty file its mount was on) is seen from here.
    await using at = await tempDir("bpfxinto-");
    const pin = `${b.path}/tasks`;
    createView(`${TASKS}:tasks`, { pin });
    const outcomes: Record<string, number> = {};
    const before = (await mountpoints()).length;
    const made: string[] = [];
    for (let i = 0; i < 30; i++) {
      // A process in a mount namespace of its own, that lives a few ms.
      const p = new Deno.Command("unshare", {
        args: ["--mount", "--propagation", "private", "sleep", `0.00${i % 10}`],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let outcome: string;
      try {
        expose(pin, {
          path: `${at.path}/x${i}`,
          into: p.pid,
          state: state.path,
        });
        outcome = "made";
        made.push(`x${i}`);
      } catch (e) {
        const m = (e as Error).message;
        outcome =
          /exited midway|changed its mount namespace midway|no such process|own mount namespace/
              .test(m)
            ? m.replace(/.*: /, "")
            : `unexpected: ${m}`;
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      await p.status;
    }
    assert.ok(
      !Object.keys(outcomes).some((o) => o.startsWith("unexpected")),
      JSON.stringify(outcomes),
    );
    // What was made is recorded, and its mount went with its namespace;
    // what was refused left nothing.
    const recorded = readManifest({ state: state.path }).exposures;
    assert.deepEqual(
      recorded.map((x) => x.path),
      made.map((n) => `${at.path}/${n}`),
      JSON.stringify(outcomes),
    );
    for (const x of exposures({ state: state.path })) {
      assert.equal(x.state, "ns-gone");
    }
    assert.equal((await mountpoints()).length, before, "no host mount left");
    const left: string[] = [];
    for await (const e of Deno.readDir(at.path)) left.push(e.name);
    assert.deepEqual(left.sort(), made.sort(), JSON.stringify(outcomes));
  },
  { needs: ["iterator task", "mount namespaces"] },
);

// ---------------------------------------------------------------------------
// A view per container: attach rules with intoContainers

const CGSTAT = `${ROOT}/build/examples/cgstat.bpf.o`;
const RULE_NEEDS = [
  "cgroup2",
  "iterator cgroup",
  "iterator cgroup parameters",
  "fanotify bpffs",
  "fanotify cgroupfs",
  "mount namespaces",
] as const;

kernelTest(
  "attach({ intoContainers }): a container running before and one started after each read their own cgroup's view; exit forgets, detach removes them all",
  async () => {
    await using b = await privateBpffs();
    await using state = await privateState();
    await using mirror = await tempDir("bpfxmirror-");
    await using cg = await privateCgroups();
    await using early = await runcContainer(cg, "early");
    const at = "/run/bpfx/stat";
    const rule = {
      cgroupRoot: cg.root,
      pinRoot: `${b.path}/views`,
      exposeRoot: mirror.path,
      name: "stat",
      state: state.path,
      intoContainers: at,
    };
    const report = await attach(`${CGSTAT}:cgstat`, rule);
    assert.deepEqual(
      report.into?.map((p) => [p.cgroup, p.pid, p.path]),
      [["early", early.pid, at]],
    );
    const idOf = async (c: Container) => {
      const r = await c.exec(["cat", at]);
      assert.equal(r.code, 0, r.stderr);
      return Number(/^id=(\d+)$/m.exec(r.stdout)?.[1]);
    };
    assert.equal(await idOf(early), await inode(early.cgroup));

    await using watcher = watch({ state: state.path });
    const seen = collect(watcher);
    await eventually("the watcher started", () => seen.items.length > 0);
    await using late = await runcContainer(cg, "late");
    await eventually(
      () => `the late container got its view: ${JSON.stringify(seen.items)}`,
      async () => (await late.exec(["cat", at])).code === 0,
      5,
    );
    assert.equal(await idOf(late), await inode(late.cgroup));
    assert.equal(of(seen.items, "exposed-into").length, 1);
    const inside = () =>
      readManifest({ state: state.path }).exposures.filter((x) =>
        x.into !== undefined
      );
    await eventually("both are recorded", () => inside().length === 2);

    // The late container exits: its exposure is forgotten.
    await late.stop();
    await eventually(
      "the exposure of the container that exited is forgotten",
      () => inside().length === 1,
    );
    assert.equal(inside()[0]?.into?.pid, early.pid);
    await watcher[Symbol.asyncDispose]();
    await seen.done;

    // detach removes the rest, inside the running container too.
    await detach({
      pinRoot: rule.pinRoot,
      exposeRoot: rule.exposeRoot,
      state: state.path,
    });
    assert.deepEqual(readManifest({ state: state.path }).exposures, []);
    assert.deepEqual(readManifest({ state: state.path }).rules, []);
    assert.ok(!(await mountsIn(early)).includes(at), "unmounted inside");
    assert.deepEqual(await lsIn(early, "/run/bpfx"), []);
    assert.deepEqual(await hostMountsBelow(b.path), []);
    assert.deepEqual(await tree(`${b.path}/views`), []);
  },
  { needs: RULE_NEEDS },
);
