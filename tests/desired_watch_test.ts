// `bpfx watch --config FILE` and `watchConfig()`, against the real kernel:
// a directory laid out as the kubelet lays out a ConfigMap (`..data` swaps),
// where a new version is applied within a second (measured), a broken one is
// refused with its file, line, column and entry while the last good state
// stays; SIGHUP applies the file again; a file edited in place or replaced
// by rename is applied. Each test has its own bpffs, state directory and
// config directory; what the file made is removed in finally by applying
// an empty version of it. The ConfigMap's directory is a tmpfs of its own.
import { main } from "../cli.ts";
import { actionLine } from "../cli/watch.ts";
import { parseDesired } from "../src/desired/file.ts";
import {
  type ConfigEvent,
  type ConfigWatchEvent,
  watchConfig,
} from "../src/desired/watch.ts";
import { apply, watch } from "../mod.ts";
import {
  assert,
  bpftoolJson,
  captureIo,
  collect,
  eventually,
  exists,
  kernelTest,
  privateBpffs,
  privateCgroups,
  ROOT,
  run,
  sleep,
  tempDir,
} from "./_kernel.ts";

const NEEDS = ["iterator task", "iterator task parameters"] as const;
const TASKS = `${ROOT}/build/examples/tasks.bpf.o`;

interface Host extends AsyncDisposable {
  bpf: string;
  state: string;
  /** The ConfigMap's mount. */
  dir: string;
  /** The file as the pod sees it: `dir/bpfx.yaml`. */
  file: string;
  /** A file of `views` views, `extra` appended. */
  text(views: readonly string[], extra?: string): string;
  /** Publishes a new version as the kubelet does; resolves after the swap. */
  publish(text: string): Promise<void>;
}

async function host(): Promise<Host> {
  const fs = await privateBpffs();
  const tmp = await tempDir("bpfxcm");
  const state = `${tmp.path}/state`;
  const dir = `${tmp.path}/config`;
  await Deno.mkdir(dir);
  // A tmpfs, as the kubelet's Secret volumes are (a ConfigMap's is often
  // on the node's disk: the test's other files are).
  const m = await run("mount", ["-t", "tmpfs", "-o", "size=1m", "bpfxcm", dir]);
  if (m.code !== 0) {
    await fs[Symbol.asyncDispose]();
    await tmp[Symbol.asyncDispose]();
    throw new Error(`mount -t tmpfs: ${m.stderr}`);
  }
  let version = 0;
  let current: string | undefined;
  const h: Host = {
    bpf: fs.path,
    state,
    dir,
    file: `${dir}/bpfx.yaml`,
    text: (views, extra = "") =>
      `name: cm
objects:
  - name: tasks
    path: ${TASKS}
    pinDir: ${fs.path}/tasks
views:
${
        views.map((v) =>
          `  - name: ${v}\n    object: tasks\n    program: tasks\n    pin: ${fs.path}/${v}\n    target: { pid: ${Deno.pid} }\n`
        ).join("")
      }${extra}`,
    async publish(text) {
      // The kubelet's atomic writer: a timestamped directory, a new
      // `..data_tmp` symlink renamed over `..data`, the old directory gone.
      const stamp = `..2026_12_08_05_00_00.${1000 + version++}`;
      await Deno.mkdir(`${dir}/${stamp}`);
      await Deno.writeTextFile(`${dir}/${stamp}/bpfx.yaml`, text);
      await Deno.symlink(stamp, `${dir}/..data_tmp`);
      await Deno.rename(`${dir}/..data_tmp`, `${dir}/..data`);
      if (current === undefined) {
        await Deno.symlink("..data/bpfx.yaml", `${dir}/bpfx.yaml`);
      } else await Deno.remove(`${dir}/${current}`, { recursive: true });
      current = stamp;
    },
    async [Symbol.asyncDispose]() {
      try {
        const empty = parseDesired("name: cm\n", h.file);
        await apply(empty.desired, { state, checked: empty.checked });
      } finally {
        try {
          await fs[Symbol.asyncDispose]();
        } finally {
          try {
            await run("umount", [dir]);
          } finally {
            await tmp[Symbol.asyncDispose]();
          }
        }
      }
    },
  };
  return h;
}

function configEvents(items: readonly ConfigWatchEvent[]): ConfigEvent[] {
  return items.filter((e): e is ConfigEvent => "file" in e);
}

async function isView(pin: string): Promise<boolean> {
  if (!await exists(pin)) return false;
  const l = await bpftoolJson<{ type: string }>([
    "link",
    "show",
    "pinned",
    pin,
  ]);
  return (l as unknown as { type: string }).type === "iter";
}

kernelTest(
  "watchConfig() applies a ConfigMap's new version within a second, refuses a broken one and keeps the last good state",
  async () => {
    await using h = await host();
    await h.publish(h.text(["a"]));
    await using w = watchConfig(h.file, { state: h.state });
    assert.equal(w.ready, false);
    const seen = collect(w);
    await eventually(
      "the first version applied",
      () => configEvents(seen.items).length > 0,
      5,
    );
    const first = configEvents(seen.items)[0]!;
    assert.equal(first.action, "config-applied", first.why);
    assert.equal(first.trigger, "start");
    assert.ok(w.ready, "ready after the first apply");
    assert.ok(await isView(`${h.bpf}/a`), "view a is made");

    // A new version: applied within a second of the `..data` swap.
    const v2 = h.text(["a", "b"]);
    const t0 = performance.now();
    await h.publish(v2);
    await eventually("view b appears", () => exists(`${h.bpf}/b`), 1);
    const took = performance.now() - t0;
    console.log(`ConfigMap swap to view pinned: ${took.toFixed(1)} ms`);
    assert.ok(took < 1000, `took ${took} ms`);
    await eventually(
      "the second version's event",
      () => configEvents(seen.items).length >= 2,
    );
    const second = configEvents(seen.items)[1]!;
    assert.equal(second.action, "config-applied", second.why);
    assert.equal(second.trigger, "change");
    assert.deepEqual(
      second.changed?.map((a) => `${a.action} ${a.kind} ${a.name}`),
      ["create view b"],
    );
    assert.equal(w.applied, second.sha256);

    // A broken version: refused, with its place; nothing changes.
    const broken = h.text(["a", "b", "c"]).replace(
      /(name: c\n {4}object: tasks\n {4}program:) tasks/,
      "$1 nope",
    );
    await h.publish(broken);
    await eventually(
      "the broken version's event",
      () => configEvents(seen.items).length >= 3,
    );
    const refused = configEvents(seen.items)[2]!;
    assert.equal(refused.action, "config-refused", refused.why);
    const line = broken.split("\n").findIndex((l) => l.includes("nope")) + 1;
    assert.equal(refused.file, h.file);
    assert.equal(refused.line, line);
    assert.equal(refused.column, 14);
    assert.equal(refused.entry, 'views[2] "c"');
    assert.match(refused.why, /has no program "nope"/);
    assert.match(refused.why, /stays in force/);
    assert.equal(JSON.stringify(refused).includes("\n"), false, "one line");
    assert.ok(w.ready, "still ready: the last good version is in force");
    assert.equal(w.applied, second.sha256);
    assert.ok(await isView(`${h.bpf}/a`));
    assert.ok(await isView(`${h.bpf}/b`));
    assert.equal(await exists(`${h.bpf}/c`), false);

    // Not YAML at all: refused as well, with the whole file as the entry.
    await h.publish("name: cm\nviews: [\n");
    await eventually(
      "the unparsable version's event",
      () => configEvents(seen.items).length >= 4,
    );
    const bad = configEvents(seen.items)[3]!;
    assert.equal(bad.action, "config-refused", bad.why);
    assert.equal(bad.entry, "the file");
    assert.ok(bad.line !== undefined && bad.column !== undefined);
    assert.ok(await isView(`${h.bpf}/b`));

    // A good version again: removes what it no longer names.
    await h.publish(h.text(["b"]));
    await eventually("view a goes", async () => !await exists(`${h.bpf}/a`));
    await w[Symbol.asyncDispose]();
    await seen.done;
    assert.equal(seen.error(), undefined);
    assert.ok(seen.items.some((e) => e.action === "started"), "one watcher");
  },
  { needs: NEEDS },
);

kernelTest(
  "bpfx watch --config applies the file again on SIGHUP, on an edit in place and on a rename over it",
  async () => {
    await using h = await host();
    // A plain file this time, in the same directory.
    const file = `${h.dir}/plain.yaml`;
    await Deno.writeTextFile(file, h.text(["a"]));
    const io = captureIo();
    const abort = new AbortController();
    const lines = () =>
      new TextDecoder().decode(io.stdout()).split("\n").filter((l) => l)
        .map((l) => JSON.parse(l) as ConfigWatchEvent);
    const applied = () =>
      configEvents(lines()).filter((e) => e.action === "config-applied");
    const running = main(
      ["watch", "--config", file, "--state", h.state, "--json"],
      { io, signal: abort.signal },
    );
    try {
      await eventually("the first apply", () => applied().length === 1, 5);
      assert.ok(await isView(`${h.bpf}/a`));

      // Someone removes the view: SIGHUP makes it again.
      await Deno.remove(`${h.bpf}/a`);
      Deno.kill(Deno.pid, "SIGHUP");
      await eventually("the reload", () => applied().length === 2);
      const reload = applied()[1]!;
      assert.equal(reload.trigger, "reload");
      assert.deepEqual(
        reload.changed?.map((a) => `${a.action} ${a.kind} ${a.name}`),
        ["replace view a"],
      );
      assert.ok(await isView(`${h.bpf}/a`));

      // Edited in place (truncated and written).
      await Deno.writeTextFile(file, h.text(["a", "b"]));
      await eventually("view b", () => exists(`${h.bpf}/b`));
      // Replaced by rename.
      await Deno.writeTextFile(`${h.dir}/.plain.tmp`, h.text(["b"]));
      await Deno.rename(`${h.dir}/.plain.tmp`, file);
      await eventually("view a goes", async () => !await exists(`${h.bpf}/a`));
      assert.ok(
        applied().slice(2).every((e) => e.trigger === "change"),
        JSON.stringify(applied()),
      );
    } finally {
      abort.abort();
      assert.equal(await running, 0, io.stderr());
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "a rule whose cgroup root does not exist yet is planned as waiting, applied as a recorded rule, and filled by the watcher when the root appears",
  async () => {
    await using fs = await privateBpffs();
    await using cgroups = await privateCgroups();
    await using tmp = await tempDir("bpfxlater");
    const state = `${tmp.path}/state`;
    const file = `${tmp.path}/host.yaml`;
    const root = `${cgroups.root}/later/deep`;
    await Deno.writeTextFile(
      file,
      `name: later
objects:
  - name: cgstat
    path: ${ROOT}/build/examples/cgstat.bpf.o
    pinDir: ${fs.path}/cgstat
rules:
  - name: stat
    object: cgstat
    program: cgstat
    cgroupRoot: ${root}
    pinRoot: ${fs.path}/views
    exposeRoot: ${tmp.path}/mirror
`,
    );
    const cli = async (args: string[]) => {
      const io = captureIo();
      const code = await main(args, { io });
      return { code, out: new TextDecoder().decode(io.stdout()) + io.stderr() };
    };
    try {
      const planned = await cli(["plan", file, "--state", state]);
      assert.equal(planned.code, 2, planned.out);
      assert.match(
        planned.out,
        new RegExp(
          `create +rule +stat: cgroup root "${root}" does not exist yet: the watcher fills the rule when it appears`,
        ),
      );
      const applied = await cli(["apply", file, "--state", state]);
      assert.equal(applied.code, 0, applied.out);
      assert.equal(await exists(`${fs.path}/views/stat`), false);
      const again = await cli(["plan", file, "--state", state]);
      assert.equal(again.code, 0, again.out);
      assert.match(
        again.out,
        /keep +rule +stat: cgroup root .* does not exist yet/,
      );

      // The watcher, then the root made a directory at a time.
      await using w = watch({ state });
      const seen = collect(w);
      await eventually(
        "the watcher started",
        () => seen.items.some((a) => a.action === "started"),
      );
      await cgroups.make("later");
      await sleep(50);
      await cgroups.make("later/deep");
      await cgroups.make("later/deep/child");
      await eventually(
        () => `the rule filled: ${JSON.stringify(seen.items)}`,
        async () =>
          await exists(`${fs.path}/views/stat`) &&
          await exists(`${fs.path}/views/child/stat`) &&
          // The watcher pins a view, then links it into the mirror.
          await exists(`${tmp.path}/mirror/child/stat`),
      );
      const filled = await cli(["plan", file, "--state", state]);
      assert.equal(filled.code, 0, filled.out);
      assert.match(filled.out, /keep +rule +stat: 2 cgroups attached/);
      assert.deepEqual(
        seen.items.filter((a) => a.action === "error"),
        [],
        "the watcher met no error",
      );
      await w[Symbol.asyncDispose]();
      await seen.done;
    } finally {
      await Deno.writeTextFile(file, "name: later\n");
      const r = await cli(["apply", file, "--state", state]);
      assert.equal(r.code, 0, r.out);
    }
  },
  {
    needs: [
      "cgroup2",
      "iterator cgroup",
      "iterator cgroup parameters",
      "fanotify cgroupfs",
    ],
  },
);

Deno.test("actionLine() shows a config event with its file:line:column and entry, and a watcher action as before", () => {
  const time = Date.UTC(2026, 11, 8, 6, 0, 0);
  assert.equal(
    actionLine({
      time,
      action: "config-refused",
      file: "/etc/bpfx/bpfx.yaml",
      trigger: "change",
      line: 5,
      column: 10,
      entry: 'views[0] "init"',
      why: 'key "pin" must be string; version 38ed25d92bd7 stays in force',
    }),
    '2026-12-08T06:00:00.000Z config-refused file="/etc/bpfx/bpfx.yaml:5:10" entry="views[0] \\"init\\"": key "pin" must be string; version 38ed25d92bd7 stays in force\n',
  );
  assert.equal(
    actionLine({
      time,
      action: "config-applied",
      file: "/etc/bpfx/bpfx.yaml",
      trigger: "start",
      why: "version 38ed25d92bd7 is in force: 2 changed",
    }),
    '2026-12-08T06:00:00.000Z config-applied file="/etc/bpfx/bpfx.yaml": version 38ed25d92bd7 is in force: 2 changed\n',
  );
  assert.equal(
    actionLine({ time, action: "started", why: "watching" }),
    "2026-12-08T06:00:00.000Z started: watching\n",
  );
});
