// Cgroup programs over a subtree, against the real kernel: a cgroup_skb
// egress counter on 20 children (--depth 1) counting the UDP packets of
// processes in two of them, beside bpftool's view; the watcher attaching a
// new child and releasing a removed one; a cgroup_sysctl and a
// cgroup_device program that deny in one cgroup only; a status per
// attachment; and bad input that leaves nothing behind. Each test has its
// own bpffs, cgroups and state directory, removed in finally.
import {
  attach,
  type AttachOptions,
  attachStatus,
  detach,
  load,
  ls,
  openMap,
  readManifest,
  show,
  watch,
  type WatchAction,
} from "../mod.ts";
import { main } from "../cli.ts";
import {
  assert,
  bpftool,
  bpftoolJson,
  captureIo,
  collect,
  eventually,
  exists,
  inode,
  kernelTest,
  type PrivateBpffs,
  privateBpffs,
  privateCgroups,
  privateState,
  rejected,
  ROOT,
  run,
  type TestCgroups,
  tree,
} from "./_kernel.ts";

const OBJ = `${ROOT}/build/tests/cgroup_progs.bpf.o`;
const LINKS_OBJ = `${ROOT}/build/tests/links.bpf.o`;
const UDP_SEND = `${ROOT}/build/tests/udp_send`;
const NEEDS = ["cgroup2", "link cgroup"] as const;

/** A test's bpffs, cgroups and state directory. */
interface Setup extends AsyncDisposable {
  readonly b: PrivateBpffs;
  readonly cg: TestCgroups;
  readonly state: string;
  /** Where the test programs are pinned (`load`), and their maps. */
  readonly progs: string;
}

async function setup(): Promise<Setup> {
  const b = await privateBpffs();
  const cg = await privateCgroups();
  const state = await privateState();
  load(OBJ, { pinDir: `${b.path}/p` });
  return {
    b,
    cg,
    state: state.path,
    progs: `${b.path}/p`,
    async [Symbol.asyncDispose]() {
      try {
        await cg[Symbol.asyncDispose]();
      } finally {
        try {
          await b[Symbol.asyncDispose]();
        } finally {
          await state[Symbol.asyncDispose]();
        }
      }
    },
  };
}

interface BpftoolCgroupEntry {
  id: number;
  attach_type: string;
  name: string;
}

/** What `bpftool cgroup show` lists on `dir`. */
async function cgroupShow(dir: string): Promise<BpftoolCgroupEntry[]> {
  const r = await run("bpftool", ["-j", "cgroup", "show", dir]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim() === "" ? [] : JSON.parse(r.stdout);
}

/** Runs the UDP sender in cgroup `dir`: `count` datagrams to loopback. */
async function sendUdp(dir: string, count: number): Promise<void> {
  const r = await run(UDP_SEND, [dir, String(count), "9"]);
  assert.equal(r.code, 0, r.stderr);
}

/** Runs `script` with bash in cgroup `dir`; returns its exit code and stderr. */
async function inCgroup(
  dir: string,
  script: string,
): Promise<{ code: number; stderr: string }> {
  return await run("bash", [
    "-c",
    `echo $$ > "$0/cgroup.procs" && ${script}`,
    dir,
  ]);
}

/** The ids of the cgroup links pinned under `dir` (bpfx ls). */
function linkIds(dir: string): number[] {
  return ls(dir).filter((e) => e.kind === "link" && e.type === "cgroup").map((
    e,
  ) => e.id).sort((a, b) => a - b);
}

kernelTest(
  "attach() gives each of 20 children its own cgroup_skb egress link: UDP from two of them is counted once per packet, by cgroup, and bpftool sees the links",
  async () => {
    await using s = await setup();
    const children = Array.from(
      { length: 20 },
      (_, i) => `c${String(i).padStart(2, "0")}`,
    );
    for (const c of children) await s.cg.make(c);
    const pinRoot = `${s.b.path}/egress`;
    const options: AttachOptions = {
      cgroupRoot: s.cg.root,
      pinRoot,
      name: "egress",
      depth: 1,
      attachType: "egress",
      state: s.state,
    };
    const report = await attach(`${s.progs}/egress_count`, options);
    assert.equal(report.cgroups, 20);
    assert.equal(report.made.length, 20);
    assert.deepEqual(report.skipped, []);
    assert.deepEqual(
      report.made.map((i) => i.cgroup).sort(),
      children,
    );
    for (const i of report.made) {
      assert.equal(i.pin, `${pinRoot}/${i.cgroup}/egress`);
      assert.equal(i.cgroupId, await inode(`${s.cg.root}/${i.cgroup}`));
      assert.ok(typeof i.linkId === "number" && i.linkId > 0);
    }
    const ids = report.made.map((i) => i.linkId ?? 0).sort((a, b) => a - b);
    assert.deepEqual(linkIds(pinRoot), ids, "bpfx ls lists the 20 links");

    // bpftool: one egress link on each child, none on the root.
    const progId = ls(s.progs).find((e) => e.name === "egress_count")?.id;
    for (const c of children) {
      const shown = await cgroupShow(`${s.cg.root}/${c}`);
      assert.equal(shown.length, 1, c);
      assert.equal(shown[0]?.attach_type, "cgroup_inet_egress", c);
      assert.equal(shown[0]?.id, progId, c);
    }
    assert.deepEqual(await cgroupShow(s.cg.root), []);
    const links = await bpftoolJson<
      { id: number; type: string; attach_type: string; cgroup_id: number }[]
    >(["link", "show"]);
    const ours = links.filter((l) => ids.includes(l.id));
    assert.equal(ours.length, 20);
    for (const l of ours) {
      assert.equal(l.type, "cgroup");
      assert.equal(l.attach_type, "cgroup_inet_egress");
    }

    // Processes in two children, and one in the root, send to loopback.
    await sendUdp(`${s.cg.root}/c03`, 7);
    await sendUdp(`${s.cg.root}/c11`, 13);
    await sendUdp(s.cg.root, 5);
    using hits = openMap<bigint, bigint>(`${s.progs}/maps/egress_hits`);
    const count = async (rel: string) =>
      hits.get(BigInt(await inode(`${s.cg.root}/${rel}`)));
    assert.equal(await count("c03"), 7n);
    assert.equal(await count("c11"), 13n);
    assert.equal(hits.get(BigInt(await inode(s.cg.root))), undefined);
    for (const c of children.filter((c) => c !== "c03" && c !== "c11")) {
      assert.equal(await count(c), undefined, c);
    }

    // A second attach keeps every link.
    const again = await attach(`${s.progs}/egress_count`, options);
    assert.equal(again.made.length, 0);
    assert.equal(again.kept.length, 20);
    assert.deepEqual(linkIds(pinRoot), ids);

    // The status: each child attached with its link id.
    const io = captureIo();
    assert.equal(
      await main(["links", "--state", s.state, "--json"], { io }),
      0,
      io.stderr(),
    );
    const [rule, ...more] = JSON.parse(new TextDecoder().decode(io.stdout()));
    assert.equal(more.length, 0);
    assert.equal(rule.kind, "link");
    assert.equal(rule.attach_type, "egress");
    assert.equal(rule.depth, 1);
    assert.equal(rule.entries.length, 20);
    for (const e of rule.entries) {
      assert.equal(e.state, "attached", e.cgroup);
      assert.ok(ids.includes(e.link_id), e.cgroup);
    }

    // A legacy attach made by bpftool on a child is left alone by detach.
    await bpftool([
      "cgroup",
      "attach",
      `${s.cg.root}/c05`,
      "egress",
      "pinned",
      `${s.progs}/egress_count`,
      "multi",
    ]);
    const gone = await detach({ pinRoot, state: s.state });
    assert.equal(gone.removed.length, 20);
    assert.deepEqual(readManifest({ state: s.state }).rules, []);
    assert.deepEqual(attachStatus({ state: s.state }), []);
    assert.deepEqual(await tree(pinRoot), []);
    for (const c of children) {
      const left = await cgroupShow(`${s.cg.root}/${c}`);
      assert.equal(left.length, c === "c05" ? 1 : 0, c);
    }
    await bpftool([
      "cgroup",
      "detach",
      `${s.cg.root}/c05`,
      "egress",
      "pinned",
      `${s.progs}/egress_count`,
    ]);
    await eventually(
      "the detached links are freed",
      async () => {
        const now = await bpftoolJson<{ id: number }[]>(["link", "show"]);
        return !now.some((l) => ids.includes(l.id));
      },
    );
  },
  { needs: NEEDS },
);

kernelTest(
  "bpfx ls lists a cgroup link that bpftool pinned, with its cgroup and attach type",
  async () => {
    await using s = await setup();
    await s.cg.make("a");
    const pinRoot = `${s.b.path}/eg`;
    const report = await attach(`${s.progs}/egress_count`, {
      cgroupRoot: `${s.cg.root}/a`,
      pinRoot,
      name: "egress",
      attachType: "egress",
    });
    const id = report.made[0]?.linkId;
    assert.ok(id !== undefined);
    await bpftool(["link", "pin", "id", String(id), `${s.b.path}/by_bpftool`]);
    const entry = ls(s.b.path).find((e) => e.path === `${s.b.path}/by_bpftool`);
    assert.ok(entry !== undefined && entry.kind === "link");
    assert.equal(entry.id, id);
    assert.equal(entry.type, "cgroup");
    const info = show(`${s.b.path}/by_bpftool`);
    assert.ok(info.kind === "link");
    assert.deepEqual(info.target, {
      cgroupId: await inode(`${s.cg.root}/a`),
      attachType: "cgroup_inet_egress",
    });
    await Deno.remove(`${s.b.path}/by_bpftool`);
    await detach({ pinRoot });
    assert.deepEqual(await cgroupShow(`${s.cg.root}/a`), []);
  },
  { needs: NEEDS },
);

kernelTest(
  "the watcher attaches a new child cgroup of a --depth 1 rule and releases the link of a removed one; a failed cgroup is named with why",
  async () => {
    await using s = await setup();
    await s.cg.make("a");
    await s.cg.make("b");
    const pinRoot = `${s.b.path}/eg`;
    // Something that is not a link where c's link would be pinned.
    await Deno.mkdir(`${pinRoot}/c`, { recursive: true });
    await bpftool([
      "map",
      "create",
      `${pinRoot}/c/egress`,
      "type",
      "array",
      "key",
      "4",
      "value",
      "4",
      "entries",
      "1",
      "name",
      "squatter",
    ]);
    await attach(`${OBJ}:egress_count`, {
      cgroupRoot: s.cg.root,
      pinRoot,
      name: "egress",
      depth: 1,
      state: s.state,
    });
    assert.equal(
      readManifest({ state: s.state }).rules[0]?.prog,
      `${pinRoot}/%prog-egress`,
    );
    // Loaded again, the same program (by its instructions) keeps its links.
    const again = await attach(`${OBJ}:egress_count`, {
      cgroupRoot: s.cg.root,
      pinRoot,
      name: "egress",
      depth: 1,
      state: s.state,
    });
    assert.deepEqual(again.kept.map((i) => i.cgroup).sort(), ["a", "b"]);
    assert.deepEqual(again.made, []);
    const watcher = watch({ state: s.state });
    const actions = collect<WatchAction>(watcher);
    try {
      await eventually(
        "the watcher started",
        () => actions.items.some((a) => a.action === "started"),
      );
      await s.cg.make("c"); // its pin path is taken
      await s.cg.make("d");
      await s.cg.make("d/deeper"); // not selected: depth 2
      await eventually(
        "d gets its link",
        async () => (await cgroupShow(`${s.cg.root}/d`)).length === 1,
        5,
      );
      await eventually(
        "the watcher says so",
        () =>
          actions.items.some((a) =>
            a.action === "link-made" && a.cgroup === "d" &&
            typeof a.linkId === "number"
          ),
      );
      assert.deepEqual(await cgroupShow(`${s.cg.root}/d/deeper`), []);
      assert.ok(!(await exists(`${pinRoot}/d/deeper`)));

      await s.cg.remove("b");
      await eventually(
        "b's link is released",
        async () => !(await exists(`${pinRoot}/b`)),
        5,
      );
      await eventually(
        "the watcher says so",
        () =>
          actions.items.some((a) =>
            a.action === "link-removed" && a.cgroup === "b"
          ),
      );
      await eventually(
        "c's failure is recorded",
        () =>
          attachStatus({ state: s.state })[0]?.entries.some((e) =>
            e.cgroup === "c" && e.state === "failed"
          ) === true,
      );
    } finally {
      await watcher[Symbol.asyncDispose]();
    }
    const [rule] = attachStatus({ state: s.state });
    const states = Object.fromEntries(
      (rule?.entries ?? []).map((e) => [e.cgroup, e]),
    );
    assert.deepEqual(Object.keys(states).sort(), ["a", "c", "d"]);
    assert.equal(states.a?.state, "attached");
    assert.equal(states.d?.state, "attached");
    assert.equal(states.c?.state, "failed");
    assert.match(states.c?.why ?? "", /something else has that name/);

    // The table form.
    const io = captureIo();
    assert.equal(await main(["links", "--state", s.state], { io }), 0);
    const text = new TextDecoder().decode(io.stdout());
    assert.match(text, /^RULE +TYPE +CGROUP +STATE +ID +WHY\n/);
    assert.match(text, /egress +egress +\S+\/a +attached +\d+\n/);

    // A cgroup removed while no watcher runs: its link is "cgroup-gone".
    await s.cg.remove("a");
    await eventually(
      "a is reported gone",
      () =>
        attachStatus({ state: s.state })[0]?.entries.some((e) =>
          e.cgroup === "a" && e.state === "cgroup-gone"
        ) === true,
    );

    const gone = await detach({ pinRoot, state: s.state });
    assert.equal(gone.removed.length, 2, "d's link and a's left pin");
    for (const c of ["c", "d"]) {
      assert.deepEqual(await cgroupShow(`${s.cg.root}/${c}`), [], c);
    }
    assert.ok(!(await exists(`${pinRoot}/%prog-egress`)));
    assert.deepEqual(
      await tree(pinRoot),
      [`${pinRoot}/c`, `${pinRoot}/c/egress`],
      "the map stays",
    );
  },
  { needs: [...NEEDS, "fanotify cgroupfs"] },
);

kernelTest(
  "a cgroup_sock_addr connect4 program given by --attach-type on a pin refuses connects to port 9 in its cgroup only",
  async () => {
    await using s = await setup();
    const denied = await s.cg.make("denied");
    const other = await s.cg.make("other");
    // bash's /dev/udp makes a UDP socket and connect()s it: no listener
    // is needed for the connect, which is what the program sees.
    const to = (port: number) => `echo x > /dev/udp/127.0.0.1/${port}`;
    const pinRoot = `${s.b.path}/connect`;
    const report = await attach(`${s.progs}/deny_port9`, {
      cgroupRoot: denied,
      pinRoot,
      name: "deny",
      attachType: "connect4",
    });
    assert.equal(report.made.length, 1);
    assert.equal(show(report.made[0]!.pin).type, "cgroup");
    const shown = await cgroupShow(denied);
    assert.deepEqual(shown.map((e) => e.attach_type), ["cgroup_inet4_connect"]);
    const there = await inCgroup(denied, to(9));
    assert.notEqual(there.code, 0, "port 9 in the cgroup");
    assert.match(there.stderr, /Operation not permitted/);
    assert.equal((await inCgroup(denied, to(10))).code, 0, "port 10 there");
    assert.equal((await inCgroup(other, to(9))).code, 0, "port 9 elsewhere");
    await detach({ pinRoot });
    // The kernel frees an unpinned link from a workqueue: the program
    // stays on the cgroup a moment after detach returns.
    await eventually(
      "after detach, the program still acts on the cgroup",
      async () => (await inCgroup(denied, to(9))).code === 0,
    );
  },
  { needs: NEEDS },
);

kernelTest(
  "a cgroup_sock sock_create program from OBJ:NAME (its section names the attach type) refuses IPv4 UDP sockets in its cgroup only",
  async () => {
    await using s = await setup();
    const denied = await s.cg.make("denied");
    const other = await s.cg.make("other");
    const udp = "echo x > /dev/udp/127.0.0.1/9";
    const pinRoot = `${s.b.path}/sock`;
    const report = await attach(`${OBJ}:deny_udp4`, {
      cgroupRoot: denied,
      pinRoot,
      name: "deny",
    });
    assert.equal(report.made.length, 1);
    const shown = await cgroupShow(denied);
    assert.deepEqual(shown.map((e) => e.attach_type), [
      "cgroup_inet_sock_create",
    ]);
    const there = await inCgroup(denied, udp);
    assert.notEqual(there.code, 0, "a UDP socket in the cgroup");
    assert.match(there.stderr, /Operation not permitted/);
    assert.equal((await inCgroup(other, udp)).code, 0, "elsewhere");
    await detach({ pinRoot });
    // The kernel frees an unpinned link from a workqueue: the program
    // stays on the cgroup a moment after detach returns.
    await eventually(
      "after detach, the program still acts on the cgroup",
      async () => (await inCgroup(denied, udp)).code === 0,
    );
  },
  { needs: NEEDS },
);

kernelTest(
  "a cgroup_sysctl program on one cgroup refuses reads of kernel/domainname there, and only there",
  async () => {
    await using s = await setup();
    const denied = await s.cg.make("denied");
    const other = await s.cg.make("other");
    const read = "cat /proc/sys/kernel/domainname";
    assert.equal((await inCgroup(denied, read)).code, 0, "before");
    const report = await attach(`${OBJ}:deny_sysctl`, {
      cgroupRoot: denied,
      pinRoot: `${s.b.path}/sysctl`,
      name: "deny",
    });
    assert.equal(report.made.length, 1);
    const there = await inCgroup(denied, read);
    assert.notEqual(there.code, 0);
    assert.match(there.stderr, /Operation not permitted/);
    assert.equal(
      (await inCgroup(denied, "cat /proc/sys/kernel/hostname")).code,
      0,
    );
    assert.equal((await inCgroup(other, read)).code, 0, "elsewhere");
    await detach({ pinRoot: `${s.b.path}/sysctl` });
    // The kernel frees an unpinned link from a workqueue: the program
    // stays on the cgroup a moment after detach returns.
    await eventually(
      "after detach, the program still acts on the cgroup",
      async () => (await inCgroup(denied, read)).code === 0,
    );
  },
  { needs: NEEDS },
);

kernelTest(
  "a cgroup_device program picked by --match denies /dev/null in that cgroup; elsewhere it opens",
  async () => {
    await using s = await setup();
    const locked = await s.cg.make("locked");
    const free = await s.cg.make("free");
    const pinRoot = `${s.b.path}/dev`;
    const io = captureIo();
    assert.equal(
      await main([
        "attach",
        `${s.progs}/deny_null`,
        "--cgroup-root",
        s.cg.root,
        "--match",
        "lock*",
        "--pin-root",
        pinRoot,
        "--name",
        "dev",
        "--state",
        s.state,
        "--json",
      ], { io }),
      0,
      io.stderr(),
    );
    const report = JSON.parse(new TextDecoder().decode(io.stdout()));
    assert.deepEqual(
      report.made.map((i: { cgroup: string }) => i.cgroup),
      ["locked"],
    );
    const write = "echo hi > /dev/null";
    const there = await inCgroup(locked, write);
    assert.notEqual(there.code, 0);
    assert.match(there.stderr, /Operation not permitted/);
    assert.equal((await inCgroup(free, write)).code, 0, "elsewhere");
    assert.equal((await inCgroup(s.cg.root, write)).code, 0, "the root");
    await detach({ pinRoot });
    // The kernel frees an unpinned link from a workqueue: the program
    // stays on the cgroup a moment after detach returns.
    await eventually(
      "after detach, the program still acts on the cgroup",
      async () => (await inCgroup(locked, write)).code === 0,
    );
  },
  { needs: NEEDS },
);

kernelTest(
  "attach() refuses a program that does not attach there, a cgroup root off cgroup2, a depth beyond the tree, links into containers, and a link kind as attach type: clear errors, nothing left",
  async () => {
    await using s = await setup();
    await s.cg.make("a");
    const pinRoot = `${s.b.path}/bad`;
    const base = {
      cgroupRoot: s.cg.root,
      pinRoot,
      name: "x",
      state: s.state,
    };
    const nothingLeft = async (what: string) => {
      assert.ok(!(await exists(pinRoot)), `${what}: no pin root`);
      assert.deepEqual(readManifest({ state: s.state }).rules, [], what);
      assert.deepEqual(await cgroupShow(`${s.cg.root}/a`), [], what);
      assert.deepEqual(await cgroupShow(s.cg.root), [], what);
    };

    let e = await rejected(() => attach(`${LINKS_OBJ}:xdp_count`, base));
    assert.equal(e.kind, "wrong-kind");
    assert.match(
      e.message,
      /^Cannot attach program "xdp_count" to cgroups: its type is xdp, which does not attach to a cgroup$/,
    );
    await nothingLeft("xdp program");

    e = await rejected(() =>
      attach(`${s.progs}/egress_count`, { ...base, attachType: "sysctl" })
    );
    assert.equal(e.kind, "wrong-kind");
    assert.match(
      e.message,
      /as "sysctl": its type is cgroup_skb, which takes "ingress" or "egress"$/,
    );
    await nothingLeft("wrong attach type");

    e = await rejected(() => attach(`${s.progs}/egress_count`, base));
    assert.equal(e.kind, "invalid");
    assert.match(
      e.message,
      /^Cannot tell where the program pinned at .* attaches/,
    );
    assert.match(e.hint ?? "", /--attach-type/);
    await nothingLeft("no attach type");

    e = await rejected(() =>
      attach(`${OBJ}:egress_count`, { ...base, cgroupRoot: "/tmp" })
    );
    assert.equal(e.kind, "invalid");
    assert.equal(
      e.message,
      'Cannot use cgroup "/tmp": it is not a cgroup2 directory',
    );
    await nothingLeft("root off cgroup2");

    e = await rejected(() =>
      attach(`${OBJ}:egress_count`, { ...base, depth: 3 })
    );
    assert.equal(e.kind, "invalid");
    assert.equal(
      e.message,
      `Depth 3 is beyond the tree at "${s.cg.root}": no cgroup is 2 levels below it to hold cgroups 3 levels below (the deepest is 1 level below)`,
    );
    await nothingLeft("depth beyond the tree");

    e = await rejected(() =>
      attach(`${OBJ}:egress_count`, { ...base, intoContainers: "/run/x" })
    );
    assert.equal(e.kind, "invalid");
    assert.match(
      e.message,
      /^Cannot put a cgroup program's links into containers: they are no files to read/,
    );
    await nothingLeft("links into containers");

    const io = captureIo();
    assert.equal(
      await main([
        "attach",
        `${OBJ}:egress_count`,
        "--cgroup-root",
        s.cg.root,
        "--attach-type",
        "tcx_egress",
        "--pin-root",
        pinRoot,
        "--name",
        "x",
        "--state",
        s.state,
      ], { io }),
      2,
    );
    assert.match(
      io.stderr(),
      /error: option '--attach-type <type>' argument 'tcx_egress' is invalid/,
    );
    await nothingLeft("link kind for a cgroup");
  },
  { needs: NEEDS },
);
