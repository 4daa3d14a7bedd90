// Desired state (`bpfx plan` and `bpfx apply` of one file), against the
// real kernel: a file with three objects, a view, a rule of views over a
// subtree, a cgroup_skb rule with depth 1 and an exposure, applied on an
// empty host and checked with bpftool and the filesystem; a second apply
// with nothing to do; an entry removed and exactly its objects gone;
// bpftool's own pin left alone throughout; plan changing nothing; and bad
// input refused with FILE:LINE:COLUMN and nothing made. Each test has its
// own bpffs, cgroups and state directory, removed in finally.
import { apply, isBpfError, plan, readManifest } from "../mod.ts";
import { cli, type Host, host, statRule } from "./_desired.ts";
import { readDesired } from "../src/desired/file.ts";
import {
  assert,
  bpftoolJson,
  bpftoolMap,
  exists,
  kernelTest,
  ROOT,
  tree,
} from "./_kernel.ts";

const NEEDS = [
  "cgroup2",
  "iterator task",
  "iterator task parameters",
  "iterator cgroup",
  "iterator cgroup parameters",
  "link cgroup",
] as const;

function whole(h: Host, extra = ""): string {
  return `# a whole host
name: host
objects:
  - name: tasks
    path: ${ROOT}/build/examples/tasks.bpf.o
    pinDir: ${h.bpf}/tasks
  - name: cg
    path: ${ROOT}/build/tests/cgroup_progs.bpf.o
    pinDir: ${h.bpf}/cg
    only: [egress_count]
  - name: cgstat
    path: ${ROOT}/build/examples/cgstat.bpf.o
    pinDir: ${h.bpf}/cgstat
views:
  - name: mytasks
    object: tasks
    program: tasks
    pin: ${h.bpf}/mytasks
    target: { pid: ${Deno.pid} }
rules:
${statRule(h)}  - name: egress
    object: cg
    program: egress_count
    cgroupRoot: ${h.cg}
    pinRoot: ${h.bpf}/cglinks
    depth: 1
exposures:
  - name: tasks
    pin: ${h.bpf}/mytasks
    path: ${h.srv}/tasks
${extra}`;
}

kernelTest(
  "apply makes a whole file, a second apply keeps it, a removed entry goes, bpftool's pin stays",
  async () => {
    await using h = await host("bpfxdesired");
    await bpftoolMap(
      `${h.bpf}/theirs`,
      "type array key 4 value 4 entries 1 name theirs",
    );
    await h.write(whole(h));
    const state = ["--state", h.state];
    const before = await tree(h.bpf);
    const planned = await cli(["plan", h.file, ...state, "--json"]);
    assert.equal(planned.code, 2, planned.out);
    assert.deepEqual(await tree(h.bpf), before, "plan changes nothing");
    assert.equal(await exists(`${h.state}/manifest.json`), false);
    const p = JSON.parse(planned.out);
    assert.deepEqual(
      p.actions.map((a: { action: string }) => a.action),
      Array(7).fill("create"),
    );

    const applied = await cli(["apply", h.file, ...state]);
    assert.equal(applied.code, 0, applied.out);
    // Each item, seen by bpftool and the filesystem.
    const progs = await bpftoolJson<{ name: string }>([
      "prog",
      "show",
      "pinned",
      `${h.bpf}/cg/egress_count`,
    ]);
    assert.equal((progs as unknown as { name: string }).name, "egress_count");
    const view = await bpftoolJson<{ type: string }>([
      "link",
      "show",
      "pinned",
      `${h.bpf}/mytasks`,
    ]);
    assert.equal((view as unknown as { type: string }).type, "iter");
    for (const c of ["", "a", "b"]) {
      const link = `${h.bpf}/cgviews/${c === "" ? "" : `${c}/`}stat`;
      assert.ok(await exists(link), link);
      assert.ok(await exists(`${h.srv}/cg/${c === "" ? "" : `${c}/`}stat`));
    }
    for (const c of ["a", "b"]) {
      const link = await bpftoolJson<{ type: string }>([
        "link",
        "show",
        "pinned",
        `${h.bpf}/cglinks/${c}/egress`,
      ]);
      assert.equal((link as unknown as { type: string }).type, "cgroup");
    }
    assert.equal(
      await exists(`${h.bpf}/cglinks/egress`),
      false,
      "depth 1: not the root",
    );
    assert.equal(await Deno.readLink(`${h.srv}/tasks`), `${h.bpf}/mytasks`);
    const text = await Deno.readTextFile(`${h.srv}/tasks`);
    assert.ok(text.length > 0, "the exposed view reads");

    const again = await cli(["plan", h.file, ...state]);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /nothing to do/);
    const second = await cli(["apply", h.file, ...state, "--json"]);
    assert.equal(JSON.parse(second.out).changes, false, second.out);

    // Remove the view rule "stat" and the object "cgstat" it used.
    const less = whole(h)
      .replace(/ {2}- name: cgstat\n( {4}.*\n){2}/, "")
      .replace(/ {2}- name: stat\n( {4}.*\n){5}/, "");
    await h.write(less);
    const pinsBefore = (await tree(h.bpf)).filter((p) =>
      !p.includes("cgstat") && !p.includes("cgviews")
    );
    const removed = await cli(["apply", h.file, ...state, "--json"]);
    assert.equal(removed.code, 0, removed.out);
    const acts = JSON.parse(removed.out).actions.filter((
      a: { action: string },
    ) => a.action !== "keep");
    assert.deepEqual(
      acts.map((a: { action: string; kind: string; name: string }) =>
        `${a.action} ${a.kind} ${a.name}`
      ),
      ["remove rule stat", "remove object cgstat"],
    );
    assert.deepEqual(
      await tree(h.bpf),
      pinsBefore,
      "exactly that entry's pins went",
    );
    assert.equal(await exists(`${h.srv}/cg/a/stat`), false);
    assert.ok(await exists(`${h.bpf}/theirs`), "bpftool's pin is left alone");
    const m = readManifest({ state: h.state });
    assert.equal(m.rules.length, 1);
    assert.ok(await exists(`${h.bpf}/theirs`));
  },
  { needs: NEEDS },
);

kernelTest(
  "plan and apply name a pin in the way that the file did not make, and apply makes nothing",
  async () => {
    await using h = await host("bpfxdesired");
    await bpftoolMap(
      `${h.bpf}/mytasks`,
      "type array key 4 value 4 entries 1 name mytasks",
    );
    await h.write(whole(h));
    const before = await tree(h.bpf);
    const read = await readDesired(h.file);
    const p = plan(read.desired, { state: h.state });
    const view = p.actions.find((a) => a.kind === "view")!;
    assert.equal(view.action, "left-alone");
    assert.match(view.why, /did not make it/);
    const r = await cli(["apply", h.file, "--state", h.state]);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /not ours, left alone/);
    assert.deepEqual(await tree(h.bpf), before, "nothing made");
    const e = await apply(read.desired, { state: h.state }).catch((x) => x);
    assert.ok(isBpfError(e) && e.kind === "exists", String(e));
  },
  { needs: NEEDS },
);

kernelTest(
  "bad input is refused with the file, line, column and entry, and nothing changes",
  async () => {
    await using h = await host("bpfxdesired");
    const tasks = `${ROOT}/build/examples/tasks.bpf.o`;
    const cases: [string, RegExp][] = [
      [
        `name: host\nobjects:\n  - name: t\n    path: ${tasks}\n    pinDir: ${h.bpf}/t\n    pinDirr: x\n`,
        /host\.yaml:6:5: objects\[0\] "t": unknown key "pinDirr"/,
      ],
      [
        `name: host\nviews:\n  - name: v\n    program: /x\n    pin: 7\n`,
        /host\.yaml:5:10: views\[0\] "v": key "pin" must be string/,
      ],
      [
        `name: host\nobjects:\n  - name: t\n    path: ${tasks}\n    pinDir: ${h.bpf}/t\n  - name: t\n    path: ${tasks}\n    pinDir: ${h.bpf}/u\n`,
        /host\.yaml:6:11: objects\[1\] "t": the name "t" is used twice/,
      ],
      [
        `name: host\nobjects:\n  - name: t\n    path: ${tasks}\n    pinDir: ${h.bpf}/t\n  - name: u\n    path: ${tasks}\n    pinDir: ${h.bpf}/t\n`,
        /host\.yaml:8:13: objects\[1\] "u": pin path ".*\/t" is also objects\[0\] "t"'s/,
      ],
      [
        `name: host\nobjects:\n  - name: t\n    path: /nonexistent.o\n    pinDir: ${h.bpf}/t\n`,
        /host\.yaml:4:11: objects\[0\] "t": object file: .*nonexistent/,
      ],
      [
        `name: host\nobjects:\n  - name: t\n    path: ${h.file}\n    pinDir: ${h.bpf}/t\n`,
        /host\.yaml:4:11: objects\[0\] "t": object file: /,
      ],
      [
        `name: host\nobjects:\n  - name: t\n    path: ${tasks}\n    pinDir: ${h.bpf}/t\nviews:\n  - name: v\n    object: t\n    program: nope\n    pin: ${h.bpf}/v\n`,
        /host\.yaml:9:14: views\[0\] "v": object "t" has no program "nope"/,
      ],
      [
        `name: host\nobjects:\n  - name: t\n    path: ${tasks}\n    pinDir: ${h.bpf}/t\nrules:\n  - name: r\n    object: t\n    program: tasks\n    cgroupRoot: ${h.cg}\n    pinRoot: ${h.bpf}/r\n    exposeRoot: ${h.srv}/r\n`,
        /host\.yaml:9:14: rules\[0\] "r": program "tasks" is of type tracing \(section iter\/task\): a rule needs/,
      ],
      [
        `name: host\nviews:\n  - name: v\n    program: /x\n    pin: ${h.bpf}/v%next\n`,
        /host\.yaml:5:10: views\[0\] "v": pin path ".*\/v%next" has "%next" in it, which apply keeps/,
      ],
      [
        `name: host\nobjects: [\n`,
        /host\.yaml:\d+:\d+: the file: not valid YAML/,
      ],
    ];
    const before = await tree(h.bpf);
    for (const [text, want] of cases) {
      await h.write(text);
      for (const verb of ["plan", "apply"]) {
        const r = await cli([verb, h.file, "--state", h.state]);
        assert.equal(r.code, 1, `${verb}: ${r.out}`);
        assert.match(r.out, want);
      }
    }
    assert.deepEqual(await tree(h.bpf), before, "nothing made");
    assert.equal(await exists(h.state), false, "no state directory made");
  },
  { needs: NEEDS },
);
