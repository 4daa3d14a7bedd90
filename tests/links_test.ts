// Any program as a pinned link, against the real kernel: tcx and xdp on a
// veth pair between two network namespaces made by the test, a kprobe, a
// uprobe on a test binary, a tracepoint, a raw tracepoint and a perf event,
// each counted in a map, listed with its target (beside bpftool's view),
// and detached by unpin. Bad input leaves nothing behind.
import {
  attachLink,
  type AttachLinkOptions,
  doctor,
  type LinkInfo,
  load,
  ls,
  openMap,
  show,
  unpin,
} from "../mod.ts";
import { main } from "../cli.ts";
import { bpftoolShape } from "../cli/pins.ts";
import {
  assert,
  BPFX,
  captureIo,
  caught,
  eventually,
  kernelTest,
  privateBpffs,
  ROOT,
  run,
  sleep,
} from "./_kernel.ts";

const OBJ = `${ROOT}/build/tests/links.bpf.o`;
const TARGET = `${ROOT}/build/tests/link_target`;

/** Loads the test programs into `dir`/p; returns the program and map dirs. */
function loadPrograms(dir: string): { progs: string; maps: string } {
  load(OBJ, { pinDir: `${dir}/p` });
  return { progs: `${dir}/p`, maps: `${dir}/p/maps` };
}

interface BpftoolLink {
  id: number;
  type: string | number;
  prog_id: number;
  [key: string]: unknown;
}

/** `bpftool -j link show`, in the network namespace `ns` if given. */
async function bpftoolLinks(ns?: string): Promise<BpftoolLink[]> {
  const args = ["-j", "link", "show"];
  const r = ns === undefined
    ? await run("bpftool", args)
    : await run("ip", ["netns", "exec", ns, "bpftool", ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as BpftoolLink[];
}

/** The links of program `progId` that bpftool lists. */
async function linksOf(progId: number, ns?: string): Promise<BpftoolLink[]> {
  return (await bpftoolLinks(ns)).filter((l) => l.prog_id === progId);
}

/** Checks that bpftool lists `link` as bpfx does: id, program and type. */
async function sameAsBpftool(link: LinkInfo, ns?: string): Promise<void> {
  const theirs = (await bpftoolLinks(ns)).find((l) => l.id === link.id);
  assert.ok(theirs !== undefined, `bpftool lists link ${link.id}`);
  assert.equal(theirs.prog_id, link.progId);
  // bpftool 7.1 names the link types it knows, and gives the others' number.
  if (typeof theirs.type === "string") assert.equal(theirs.type, link.type);
  for (const field of ["ifindex", "devname"]) {
    if (theirs[field] !== undefined) {
      assert.equal(theirs[field], link.target[field], field);
    }
  }
}

/** Waits until bpftool no longer lists link `id` (the kernel frees lazily). */
async function gone(id: number, ns?: string): Promise<void> {
  await eventually(
    `bpftool still lists link ${id}`,
    async () => !(await bpftoolLinks(ns)).some((l) => l.id === id),
  );
}

/** Unpins each of `pins` that is there (for `finally`). */
async function unpinIfThere(...pins: string[]): Promise<void> {
  for (const pin of pins) {
    await Deno.lstat(pin).then(() => unpin(pin), () => {});
  }
}

/** A u64 counter of `map` at `key`, or 0n when there is none. */
function counter(maps: string, map: string, key: number): bigint {
  using m = openMap<number, bigint>(`${maps}/${map}`);
  return m.get(key) ?? 0n;
}

/** Runs the helper binary; returns its pid. */
async function runTarget(...args: string[]): Promise<number> {
  const child = new Deno.Command(TARGET, { args, stdout: "null" }).spawn();
  const status = await child.status;
  assert.equal(status.code, 0, `${TARGET} ${args.join(" ")}`);
  return child.pid;
}

/** Nothing is pinned at `pin`, and no link of program `progId` exists. */
async function nothingLeft(pin: string, progId: number): Promise<void> {
  assert.equal(await Deno.lstat(pin).catch(() => null), null, `${pin} exists`);
  assert.deepEqual(await linksOf(progId), []);
}

function progId(path: string): number {
  return show(path).id;
}

// ---------------------------------------------------------------------------
// Network links on a veth pair between two namespaces

/** Two network namespaces joined by a veth pair, removed when disposed. */
interface VethPair extends AsyncDisposable {
  /** The namespace of `dev`, where the links go. */
  readonly ns: string;
  /** The namespace of the peer, which sends. */
  readonly peerNs: string;
  readonly dev: string;
  /** `dev`'s index in `ns`. */
  readonly ifindex: number;
  /** Sends `n` UDP datagrams from the peer to `dev`. */
  send(n: number): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  const r = await run("ip", args);
  assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const NETNS_DIR = "/run/netns";

/** Whether `path` is a mount point, by /proc/self/mountinfo. */
async function isMountPoint(path: string): Promise<boolean> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n").some((line) => line.split(" ")[4] === path);
}

async function vethPair(): Promise<VethPair> {
  const tag = `${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  const ns = `bpfxa-${tag}`;
  const peerNs = `bpfxb-${tag}`;
  // `ip netns add` makes /run/netns a mount of itself the first time, and
  // never undoes it: the pair's owner does, when it made it and nothing else
  // is left there, so the host's mount table is as before.
  const netnsMount = await isMountPoint(NETNS_DIR);
  const netnsDir = await Deno.lstat(NETNS_DIR).then(() => true, () => false);
  const dispose = async () => {
    // Removing a namespace removes its end of the pair, and so the pair.
    for (const n of [ns, peerNs]) await run("ip", ["netns", "del", n]);
    if (netnsMount || !(await isMountPoint(NETNS_DIR))) return;
    if ((await Array.fromAsync(Deno.readDir(NETNS_DIR))).length > 0) return;
    await run("umount", [NETNS_DIR]);
    if (!netnsDir) await Deno.remove(NETNS_DIR).catch(() => {});
  };
  try {
    await ip("netns", "add", ns);
    await ip("netns", "add", peerNs);
    await ip(
      "link",
      "add",
      "bpfx0",
      "netns",
      ns,
      "type",
      "veth",
      "peer",
      "name",
      "bpfx1",
      "netns",
      peerNs,
    );
    await ip("-n", ns, "addr", "add", "10.199.0.1/30", "dev", "bpfx0");
    await ip("-n", peerNs, "addr", "add", "10.199.0.2/30", "dev", "bpfx1");
    await ip("-n", ns, "link", "set", "bpfx0", "up");
    await ip("-n", peerNs, "link", "set", "bpfx1", "up");
    const [dev] = JSON.parse(
      await ip("-j", "-n", ns, "link", "show", "bpfx0"),
    ) as { ifindex: number }[];
    return {
      ns,
      peerNs,
      dev: "bpfx0",
      ifindex: dev!.ifindex,
      async send(n) {
        const r = await run("ip", [
          "netns",
          "exec",
          peerNs,
          TARGET,
          "udp",
          "10.199.0.1",
          "9",
          String(n),
        ]);
        assert.equal(r.code, 0, r.stderr);
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** Detached: datagrams sent across are no longer counted at `key`. */
async function notCounted(pair: VethPair, maps: string, key: number) {
  // The kernel detaches an unpinned link from a workqueue, after its id is
  // gone: a send just then may still be counted; later ones never are.
  await eventually(
    `packets sent across are still counted at key ${key}`,
    async () => {
      const before = counter(maps, "net_hits", key);
      await pair.send(3);
      await sleep(100);
      return counter(maps, "net_hits", key) === before;
    },
  );
}

/** Runs the bpfx CLI in the namespace `ns`; returns its parsed JSON. */
async function bpfxIn<T>(ns: string, ...args: string[]): Promise<T> {
  const r = await run("ip", ["netns", "exec", ns, BPFX, ...args, "--json"]);
  assert.equal(r.code, 0, `bpfx ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/**
 * `bpfx attach ... --json` in `ns`, whose JSON is the link in bpftool's
 * shape (its target's fields in the link itself, snake_case), as
 * `bpfx show PIN --json` there gives it too; returned as the API has it
 * (`progId`, `target`), for the checks that follow.
 */
async function attachIn(ns: string, ...args: string[]): Promise<LinkInfo> {
  const json = await bpfxIn<Record<string, unknown>>(ns, "attach", ...args);
  const pin = args[args.indexOf("--pin") + 1]!;
  const shown = await bpfxIn<Record<string, unknown>>(ns, "show", pin);
  assert.equal(shown["path"], pin);
  assert.deepEqual(json, shown, "attach --json gives the link as show --json");
  const camel = (k: string) =>
    k.replace(/_([a-z])/g, (_m, c) => c.toUpperCase());
  const { path, kind, id, name, type, prog_id, ...target } = json;
  return {
    path,
    kind,
    id,
    name,
    type,
    progId: prog_id,
    target: Object.fromEntries(
      Object.entries(target).map(([k, v]) => [camel(k), v]),
    ),
  } as unknown as LinkInfo;
}

/** What `bpftool -j net show` lists in `ns`. */
async function bpftoolNet(ns: string): Promise<
  { xdp: { devname: string; id: number }[]; tc: unknown[] }
> {
  const r = await run("ip", ["netns", "exec", ns, "bpftool", "-j", "net"]);
  assert.equal(r.code, 0, r.stderr);
  const [net] = JSON.parse(r.stdout) as {
    xdp: { devname: string; id: number }[];
    tc: unknown[];
  }[];
  return net!;
}

const TC_OBJ = `${ROOT}/build/tests/tc_sections.bpf.o`;

/** `bpftool -j prog show id ID`'s map ids. */
async function mapIdsOf(id: number): Promise<number[]> {
  const r = await run("bpftool", ["-j", "prog", "show", "id", String(id)]);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { map_ids?: number[] }).map_ids ?? [];
}

/** The u64 at index `key` of the array map `id`, as bpftool reads it. */
async function bpftoolCounter(id: number, key: number): Promise<bigint> {
  const r = await run("bpftool", [
    "-j",
    "map",
    "lookup",
    "id",
    String(id),
    "key",
    ...[key, 0, 0, 0].map(String),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const { value } = JSON.parse(r.stdout) as { value: string[] };
  return value.reduceRight((n, b) => n * 256n + BigInt(Number(b)), 0n);
}

kernelTest(
  "libbpf's tc, tcx/ and netkit/ sections load as sched_cls with libbpf's attach types, as bpftool loads those it knows, and a tcx/ingress program attaches by its section alone and counts",
  async () => {
    await using b = await privateBpffs();
    // bpfx inspect and load: every program, its type and attach type.
    const r = await run(BPFX, ["inspect", TC_OBJ, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const specs = (JSON.parse(r.stdout) as {
      programs: { name: string; type: string; attach_type?: string }[];
    }).programs;
    assert.deepEqual(
      Object.fromEntries(
        specs.map((p) => [p.name, `${p.type} ${p.attach_type ?? "-"}`]),
      ),
      {
        tc_any: "sched_cls -",
        tcx_in: "sched_cls tcx_ingress",
        tcx_out: "sched_cls tcx_egress",
        tc_in_old: "sched_cls tcx_ingress",
        nk_primary: "sched_cls netkit_primary",
        nk_peer: "sched_cls netkit_peer",
      },
    );
    const loaded = load(TC_OBJ, { pinDir: `${b.path}/tc` });
    assert.deepEqual(
      loaded.programs.map((p) => [p.name, show(p.path).type]).sort(),
      specs.map((p) => [p.name, "sched_cls"]).sort(),
    );
    // Debian's bpftool 7.1 knows `tc` and `classifier` only: on the object
    // built with those, it and bpfx load the same programs, types and tags.
    const bt = await run("bpftool", [
      "prog",
      "loadall",
      `${ROOT}/build/tests/tc_sections-old.bpf.o`,
      `${b.path}/bt`,
    ]);
    assert.equal(bt.code, 0, bt.stderr);
    const ours = load(`${ROOT}/build/tests/tc_sections-old.bpf.o`, {
      pinDir: `${b.path}/old`,
    });
    const theirs = [...Deno.readDirSync(`${b.path}/bt`)].map((e) => e.name)
      .sort();
    assert.deepEqual(ours.programs.map((p) => p.name).sort(), theirs);
    for (const name of theirs) {
      const [a, z] = [
        show(`${b.path}/bt/${name}`),
        show(`${b.path}/old/${name}`),
      ];
      assert.ok(a.kind === "prog" && z.kind === "prog");
      assert.deepEqual([z.type, z.tag], [a.type, a.tag], name);
    }
    // OBJ:NAME of a tcx/ingress program: the section gives the direction.
    await using pair = await vethPair();
    const pin = `${b.path}/tcx_in`;
    try {
      const link = await attachIn(
        pair.ns,
        `${TC_OBJ}:tcx_in`,
        "--to",
        pair.dev,
        "--pin",
        pin,
      );
      assert.equal(link.type, "tcx");
      assert.equal(link.target.attachType, "tcx_ingress");
      await sameAsBpftool(link, pair.ns);
      const [map] = await mapIdsOf(link.progId);
      assert.ok(map !== undefined, "the program uses its map");
      const before = await bpftoolCounter(map, 1);
      await pair.send(5);
      await eventually(
        "the tcx/ingress program counts the 5 datagrams",
        async () => (await bpftoolCounter(map, 1)) - before >= 5n,
      );
      unpin(pin);
      await gone(link.id, pair.ns);
    } finally {
      await unpinIfThere(pin);
    }
  },
  { needs: [] },
);

kernelTest(
  "attach --to makes a tcx link on a veth in a test namespace: it counts the UDP sent across, ls and show give its interface and direction as bpftool does, and unpin detaches it",
  async () => {
    await using b = await privateBpffs();
    await using pair = await vethPair();
    const { progs, maps } = loadPrograms(b.path);
    const pin = `${b.path}/tcx`;
    // bpfx runs in the interface's namespace; the pin is on the shared bpffs.
    const link = await attachIn(
      pair.ns,
      `${progs}/tcx_count`,
      "--to",
      pair.dev,
      "--pin",
      pin,
      // A pinned program has no section: the direction is given.
      "--attach-type",
      "tcx_ingress",
    );
    try {
      assert.equal(link.type, "tcx");
      assert.deepEqual(link.target, {
        ifindex: pair.ifindex,
        devname: pair.dev,
        attachType: "tcx_ingress",
      });
      assert.equal(link.progId, progId(`${progs}/tcx_count`));
      const before = counter(maps, "net_hits", 0);
      await pair.send(5);
      await eventually(
        "the tcx program counts the 5 datagrams",
        () => counter(maps, "net_hits", 0) - before >= 5n,
      );
      // ls and show from here: the same link, its index and direction.
      const listed = ls(b.path).find((e) => e.path === pin);
      assert.equal(listed?.kind, "link");
      assert.equal(listed?.id, link.id);
      const here = show(pin);
      assert.equal(here.kind, "link");
      assert.ok(here.kind === "link");
      assert.equal(here.target.ifindex, pair.ifindex);
      assert.equal(here.target.attachType, "tcx_ingress");
      // show in the interface's namespace names the device too (the command
      // line's JSON has bpftool's shape: the target's fields in the link).
      const there = await bpfxIn<Record<string, unknown>>(pair.ns, "show", pin);
      assert.deepEqual(
        [there["ifindex"], there["devname"], there["attach_type"]],
        [link.target.ifindex, link.target.devname, link.target.attachType],
      );
      await sameAsBpftool(link, pair.ns);
      // From OBJ:NAME, the section gives the direction.
      const fromObj = await attachIn(
        pair.ns,
        `${ROOT}/build/tests/links.bpf.o:tcx_count`,
        "--to",
        pair.dev,
        "--pin",
        `${b.path}/tcx2`,
      );
      assert.equal(fromObj.target.attachType, "tcx_ingress");
      unpin(`${b.path}/tcx2`);
      await gone(fromObj.id, pair.ns);
    } finally {
      await unpinIfThere(pin, `${b.path}/tcx2`);
    }
    await gone(link.id, pair.ns);
    await notCounted(pair, maps, 0);
  },
  { needs: [] },
);

kernelTest(
  "attach --to makes an xdp link on a veth in a test namespace: it counts, bpftool net and ip link show it, and unpin detaches it",
  async () => {
    await using b = await privateBpffs();
    await using pair = await vethPair();
    const { progs, maps } = loadPrograms(b.path);
    const pin = `${b.path}/xdp`;
    const link = await attachIn(
      pair.ns,
      `${progs}/xdp_count`,
      "--to",
      String(pair.ifindex), // an index works as a name does
      "--pin",
      pin,
      "--mode",
      "generic",
    );
    try {
      assert.equal(link.type, "xdp");
      assert.deepEqual(link.target, {
        ifindex: pair.ifindex,
        devname: pair.dev,
      });
      const before = counter(maps, "net_hits", 1);
      await pair.send(5);
      await eventually(
        "the xdp program counts the 5 datagrams",
        () => counter(maps, "net_hits", 1) - before >= 5n,
      );
      const net = await bpftoolNet(pair.ns);
      assert.deepEqual(
        net.xdp.map((x) => [x.devname, x.id]),
        [[pair.dev, link.progId]],
      );
      const [dev] = JSON.parse(
        await ip("-j", "-d", "-n", pair.ns, "link", "show", pair.dev),
      ) as { xdp?: { mode: number; prog?: { id: number } } }[];
      assert.equal(dev?.xdp?.prog?.id, link.progId, JSON.stringify(dev?.xdp));
      await sameAsBpftool(link, pair.ns);
    } finally {
      await unpinIfThere(pin);
    }
    await eventually(
      "bpftool net still shows the xdp program",
      async () => (await bpftoolNet(pair.ns)).xdp.length === 0,
    );
    await notCounted(pair, maps, 1);
  },
  { needs: [] },
);

/** Pins at `pin` a `r0 = 1; exit` program of `type` for `attachType`. */
async function rawProgram(type: number, attachType: number, pin: string) {
  const r = await run(TARGET, ["prog", String(type), String(attachType), pin]);
  assert.equal(r.code, 0, r.stderr);
}

kernelTest(
  "attach --to makes a netfilter link in a test namespace: show gives its family, hook and priority as bpftool does, and unpin detaches it",
  async () => {
    await using b = await privateBpffs();
    await using pair = await vethPair();
    // Neither aya 0.14 nor bpftool 7.1 loads netfilter programs: the helper
    // loads one (BPF_PROG_TYPE_NETFILTER 32, BPF_NETFILTER 45) that accepts.
    const prog = `${b.path}/nf`;
    await rawProgram(32, 45, prog);
    const pin = `${b.path}/nfl`;
    const link = await attachIn(
      pair.ns,
      prog,
      "--to",
      "ipv6:forward",
      "--priority",
      "-128",
      "--pin",
      pin,
    );
    try {
      assert.equal(link.type, "netfilter");
      // NFPROTO_IPV6 10, NF_INET_FORWARD 2.
      assert.deepEqual(link.target, { pf: 10, hook: 2, prio: -128, flags: 0 });
      assert.deepEqual(show(pin), { ...link, path: pin });
      await sameAsBpftool(link, pair.ns);
    } finally {
      await unpinIfThere(pin);
    }
    await gone(link.id, pair.ns);
  },
  { needs: [] },
);

kernelTest(
  "attachLink() makes a uprobe_multi link over a list of a binary's functions, at the offsets a uprobe has, and unpin detaches it",
  async () => {
    await using b = await privateBpffs();
    const { progs } = loadPrograms(b.path);
    // A kprobe program loaded for BPF_TRACE_UPROBE_MULTI (48), which
    // neither aya 0.14 nor bpftool 7.1 can load.
    const prog = `${b.path}/um`;
    await rawProgram(2, 48, prog);
    const one = attachLink(`${progs}/uprobe_count`, {
      to: `${TARGET}:bpfx_probed`,
      pin: `${b.path}/one`,
    });
    unpin(`${b.path}/one`);
    const pin = `${b.path}/multi`;
    const link = attachLink(prog, { to: `${TARGET}:bpfx_probed,main`, pin });
    try {
      assert.equal(link.type, "uprobe_multi");
      assert.equal(link.target.path, TARGET);
      assert.equal(link.target.func_cnt, 2);
      assert.equal(link.target.retprobe, false);
      const [first] = link.target.funcs as { offset: number }[];
      assert.equal(first?.offset, one.target.offset);
      await sameAsBpftool(link);
    } finally {
      await unpinIfThere(pin);
    }
    await gone(link.id);
    await gone(one.id);
  },
  { needs: ["link uprobe_multi"] },
);

kernelTest(
  "uprobe.multi, uretprobe.multi and kprobe.multi sections load for multi links (libbpf's attach types), and attach --to of OBJ:NAME makes a uprobe_multi link that counts each call, with one function too",
  async () => {
    await using b = await privateBpffs();
    const obj = `${ROOT}/build/tests/multi_probes.bpf.o`;
    const r = await run(BPFX, ["inspect", obj, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      Object.fromEntries(
        (JSON.parse(r.stdout) as {
          programs: { name: string; type: string; attach_type?: string }[];
        }).programs.map((p) => [p.name, `${p.type} ${p.attach_type}`]),
      ),
      {
        km_count: "kprobe trace_kprobe_multi",
        um_count: "kprobe trace_uprobe_multi",
        urm_count: "kprobe trace_uprobe_multi",
      },
    );
    load(obj, { pinDir: `${b.path}/m` });
    const pins = [`${b.path}/two`, `${b.path}/ret`];
    try {
      const link = await attachCli(
        `${obj}:um_count`,
        "--to",
        `${TARGET}:bpfx_probed,main`,
        "--pin",
        pins[0]!,
      );
      assert.equal(link["type"], "uprobe_multi");
      assert.equal(link["func_cnt"], 2);
      const [map] = await mapIdsOf(Number(link["prog_id"]));
      assert.ok(map !== undefined, "the program uses its map");
      await runTarget("3");
      // bpfx_probed three times, and main once.
      assert.equal(await bpftoolCounter(map, 0), 4n);
      // One function: still a multi link, the only kind it was loaded for.
      const ret = await attachCli(
        `${obj}:urm_count`,
        "--to",
        `${TARGET}:bpfx_probed`,
        "--pin",
        pins[1]!,
      );
      assert.deepEqual([ret["type"], ret["retprobe"]], ["uprobe_multi", true]);
      for (const p of pins) unpin(p);
      await gone(Number(link["id"]));
      await gone(Number(ret["id"]));
    } finally {
      await unpinIfThere(...pins);
    }
  },
  { needs: ["link uprobe_multi"] },
);

/** `bpfx attach ARGS --json`, in this process's namespaces. */
async function attachCli(...args: string[]): Promise<Record<string, unknown>> {
  const r = await run(BPFX, ["attach", ...args, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// Tracing links

/**
 * tracefs, mounted for the test at a private place when it is not mounted
 * anywhere (bpfx finds it in /proc/self/mountinfo); unmounted after.
 */
async function tracefs(): Promise<AsyncDisposable> {
  const mounted = doctor().checks.find((c) => c.name === "tracefs")?.ok;
  if (mounted) return { async [Symbol.asyncDispose]() {} };
  const dir = await Deno.makeTempDir({ prefix: "bpfxtracefs-" });
  const r = await run("mount", ["-t", "tracefs", "tracefs", dir]);
  assert.equal(r.code, 0, r.stderr);
  return {
    async [Symbol.asyncDispose]() {
      await run("umount", [dir]);
      await Deno.remove(dir);
    },
  };
}

kernelTest(
  "attachLink() makes a uprobe on a function of a test binary: it counts each call, show gives its file and offset as bpftool does, and unpin detaches it",
  async () => {
    await using b = await privateBpffs();
    const { progs, maps } = loadPrograms(b.path);
    const pin = `${b.path}/uprobe`;
    const link = attachLink(`${progs}/uprobe_count`, {
      to: `${TARGET}:bpfx_probed`,
      pin,
    });
    let pid: number;
    try {
      assert.equal(link.type, "perf_event");
      assert.equal(link.target.perf_event_type, "uprobe");
      assert.equal(link.target.file, TARGET);
      assert.equal(link.target.retprobe, false);
      assert.ok((link.target.offset ?? 0) > 0);
      assert.deepEqual(show(pin), { ...link, path: pin });
      pid = await runTarget("7");
      assert.equal(counter(maps, "uprobe_hits", pid), 7n);
      await sameAsBpftool(link);
    } finally {
      await unpinIfThere(pin);
    }
    await gone(link.id);
    const again = await runTarget("3");
    assert.equal(counter(maps, "uprobe_hits", again), 0n);
  },
  { needs: ["link uprobe"] },
);

kernelTest(
  "attachLink() makes a tracepoint link: it counts the test binary's getppid calls, show names the tracepoint, and unpin detaches it",
  async () => {
    await using b = await privateBpffs();
    await using _t = await tracefs();
    const { progs, maps } = loadPrograms(b.path);
    const pin = `${b.path}/tp`;
    const link = attachLink(`${progs}/tp_count`, {
      to: "syscalls:sys_enter_getppid",
      pin,
    });
    try {
      assert.equal(link.type, "perf_event");
      assert.deepEqual(link.target, {
        perf_event_type: "tracepoint",
        tracepoint: "sys_enter_getppid",
      });
      const pid = await runTarget("4");
      assert.equal(counter(maps, "tp_hits", pid), 4n);
      await sameAsBpftool(link);
    } finally {
      await unpinIfThere(pin);
    }
    await gone(link.id);
    // The link's id goes before the kernel's workqueue detaches its perf
    // event: a run just after may still be counted, a later one is not.
    await eventually(
      "the tracepoint link still counts after unpin",
      async () => counter(maps, "tp_hits", await runTarget("2")) === 0n,
    );
  },
  { needs: [] },
);

kernelTest(
  "attach --to makes a raw tracepoint link and a perf event link from the CLI; ls lists them, show gives their targets, unpin detaches them",
  async () => {
    await using b = await privateBpffs();
    const { progs, maps } = loadPrograms(b.path);
    const raw = `${b.path}/raw`;
    const perf = `${b.path}/perf`;
    // attach --json gives the link as show --json does (bpftool's shape);
    // the checks below read it as the API gives it.
    const cli = async (...args: string[]) => {
      const io = captureIo();
      const code = await main(args, { io });
      assert.equal(code, 0, io.stderr());
      const json = JSON.parse(new TextDecoder().decode(io.stdout()));
      const pin = args[args.indexOf("--pin") + 1]!;
      const info = show(pin);
      assert.ok(info.kind === "link");
      assert.deepEqual(
        json,
        bpftoolShape(info),
        "attach --json is show --json's link",
      );
      return info;
    };
    const made: LinkInfo[] = [];
    try {
      made.push(
        await cli(
          "attach",
          `${progs}/raw_tp_count`,
          "--to",
          "sys_enter",
          "--pin",
          raw,
          "-j",
        ),
      );
      made.push(
        await cli(
          "attach",
          `${progs}/perf_count`,
          "--to",
          "software:cpu-clock",
          "--frequency",
          "1000",
          "--cpu",
          "0",
          "--pin",
          perf,
          "-j",
        ),
      );
      const [r, p] = made as [LinkInfo, LinkInfo];
      assert.equal(r.type, "raw_tracepoint");
      assert.deepEqual(r.target, { tp_name: "sys_enter" });
      assert.equal(p.type, "perf_event");
      assert.equal(p.target.perf_event_type, "event");
      // Named when the event's type is PERF_TYPE_SOFTWARE; recent kernels
      // give cpu-clock a PMU of its own, whose config shows as a number.
      assert.ok(
        [0, "cpu-clock"].includes(p.target.event_config as number | string),
        JSON.stringify(p.target),
      );
      const pid = await runTarget("5");
      // Each getppid is a syscall; the binary makes others too.
      assert.ok(counter(maps, "raw_tp_hits", pid) >= 5n);
      await eventually(
        "the perf event program samples",
        () => counter(maps, "perf_hits", 0) > 0n,
      );
      const listed = ls(b.path).filter((e) => e.kind === "link");
      assert.deepEqual(
        listed.map((e) => [e.path, e.id, e.type]),
        [[perf, p.id, "perf_event"], [raw, r.id, "raw_tracepoint"]],
      );
      // ls --json gives each link's target as show --json does: in the
      // link itself, as bpftool has it (the API keeps it in `target`).
      const io = captureIo();
      assert.equal(await main(["ls", b.path, "--json"], { io }), 0);
      const entries = JSON.parse(new TextDecoder().decode(io.stdout())) as (
        Record<string, unknown> & { path: string; kind: string }
      )[];
      const links = entries.filter((e) => e.kind === "link");
      assert.deepEqual(links.map((e) => e.path), [perf, raw]);
      for (const e of links) {
        const shown = show(e.path);
        assert.ok(shown.kind === "link");
        const sio = captureIo();
        assert.equal(await main(["show", e.path, "--json"], { io: sio }), 0);
        const json = JSON.parse(
          new TextDecoder().decode(sio.stdout()),
        ) as Record<string, unknown>;
        const keys = Object.keys(shown.target).filter((k) =>
          json[k] !== undefined
        );
        assert.ok(keys.length > 0, `${e.path}: show --json gives its target`);
        for (const k of keys) {
          assert.deepEqual(e[k], json[k], `${e.path}: ${k}`);
        }
      }
      assert.deepEqual(ls(b.path).find((e) => e.path === raw)?.target, {
        tp_name: "sys_enter",
      });
      const others = entries.filter((e) => e.kind !== "link");
      assert.ok(others.length > 0, "the programs and maps are listed");
      for (const e of others) assert.ok(!("target" in e), e.path);
      for (const l of made) await sameAsBpftool(l);
    } finally {
      for (const pin of [raw, perf]) {
        await unpinIfThere(pin);
      }
    }
    for (const l of made) {
      await gone(l.id);
    }
  },
  { needs: [] },
);

kernelTest(
  "attachLink() makes a kprobe on a function the test calls: it counts the test's unlinks, show gives the function, and unpin detaches it",
  async () => {
    await using b = await privateBpffs();
    const { progs, maps } = loadPrograms(b.path);
    const pin = `${b.path}/kprobe`;
    const link = attachLink(`${progs}/kprobe_count`, {
      to: "do_unlinkat",
      pin,
    });
    try {
      assert.equal(link.type, "perf_event");
      assert.equal(link.target.perf_event_type, "kprobe");
      assert.equal(link.target.func, "do_unlinkat");
      assert.equal(link.target.offset, 0);
      const dir = await Deno.makeTempDir({ prefix: "bpfxunlink-" });
      for (let i = 0; i < 4; i++) {
        await Deno.writeTextFile(`${dir}/f${i}`, "x");
        await Deno.remove(`${dir}/f${i}`);
      }
      await Deno.remove(dir);
      assert.ok(counter(maps, "kprobe_hits", Deno.pid) >= 4n);
      await sameAsBpftool(link);
    } finally {
      await unpinIfThere(pin);
    }
    await gone(link.id);
  },
  { needs: ["link kprobe"] },
);

kernelTest(
  "attachLink() makes a kprobe_multi link over a list of functions from a program bpftool loaded for it, and show names them",
  async () => {
    await using b = await privateBpffs();
    // bpftool (libbpf) loads SEC("kprobe.multi/...") for kprobe_multi;
    // aya 0.14 parses no such section.
    const prog = `${b.path}/multi`;
    const r = await run("bpftool", [
      "prog",
      "load",
      `${ROOT}/build/tests/kprobe_multi.bpf.o`,
      prog,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pin = `${b.path}/kmulti`;
    const link = attachLink(prog, {
      to: "do_unlinkat,do_rmdir",
      pin,
      attachType: "kprobe_multi",
    });
    try {
      assert.equal(link.type, "kprobe_multi");
      assert.equal(link.target.func_cnt, 2);
      const funcs = (link.target.funcs as { func: string }[]).map((f) =>
        f.func
      );
      assert.deepEqual(funcs.sort(), ["do_rmdir", "do_unlinkat"]);
      await sameAsBpftool(link);
    } finally {
      await unpinIfThere(pin);
    }
    await nothingLeft(pin, progId(prog));
  },
  { needs: ["link kprobe_multi"] },
);

kernelTest(
  "attachLink() of a fentry program links it to the function it was loaded for, and refuses another",
  async () => {
    await using b = await privateBpffs();
    const obj = `${ROOT}/build/tests/fentry.bpf.o:witness`;
    const wrong = caught(() =>
      attachLink(obj, { to: "do_unlinkat", pin: `${b.path}/f` })
    );
    assert.equal(wrong.kind, "invalid");
    assert.match(wrong.message, /it was loaded for "bpf_fentry_test1"/);
    const link = attachLink(obj, {
      to: "bpf_fentry_test1",
      pin: `${b.path}/f`,
    });
    try {
      assert.equal(link.type, "tracing");
      assert.equal(link.target.attachType, "trace_fentry");
    } finally {
      unpin(`${b.path}/f`);
    }
  },
  { needs: ["trampoline fentry"] },
);

// ---------------------------------------------------------------------------
// What the kernel lacks, and bad input

kernelTest(
  "attachLink() of a kprobe on a kernel without kprobes says what doctor says, and leaves nothing",
  async () => {
    await using b = await privateBpffs();
    const { progs } = loadPrograms(b.path);
    const check = doctor().checks.find((c) => c.name === "link kprobe");
    assert.ok(check !== undefined);
    const pin = `${b.path}/k`;
    if (check.ok) {
      // Where kprobes exist, the kprobe test above covers them.
      attachLink(`${progs}/kprobe_count`, { to: "do_unlinkat", pin });
      unpin(pin);
      return;
    }
    const e = caught(() =>
      attachLink(`${progs}/kprobe_count`, { to: "do_unlinkat", pin })
    );
    assert.equal(e.kind, "not-supported");
    assert.equal(
      e.message,
      `Cannot attach a kprobe link to "do_unlinkat": ${check.detail}`,
    );
    assert.match(e.hint ?? "", /bpfx doctor/);
    await nothingLeft(pin, progId(`${progs}/kprobe_count`));
  },
  { needs: [] },
);

kernelTest(
  "attachLink() refuses bad input with a clear error and leaves nothing: a program that does not attach there, a missing interface, symbol or tracepoint, a pin off bpffs or taken",
  async () => {
    await using b = await privateBpffs();
    await using _t = await tracefs();
    const { progs } = loadPrograms(b.path);
    const pin = `${b.path}/bad`;
    const xdp = `${progs}/xdp_count`;
    const cases: [string, AttachLinkOptions, string, RegExp][] = [
      [
        xdp,
        { to: "do_unlinkat", pin, attachType: "kprobe" },
        "wrong-kind",
        /its type is xdp, and a "kprobe" link takes a kprobe program/,
      ],
      [
        xdp,
        { to: "do_unlinkat", pin },
        "not-found",
        /^No network interface "do_unlinkat" in this network namespace$/,
      ],
      [
        xdp,
        { to: "999999", pin },
        "not-found",
        /No network interface "999999"/,
      ],
      [
        xdp,
        { to: "lo", pin, mode: "generic", priority: 3 },
        "invalid",
        /^"priority" is not for xdp links: it is for netfilter links$/,
      ],
      [
        `${progs}/tcx_count`,
        { to: "lo", pin },
        "invalid",
        /Cannot tell where .* attaches: a sched_cls program attaches to tcx ingress or egress/,
      ],
      [
        `${progs}/tcx_count`,
        { to: "lo", pin, attachType: "netkit_primary" },
        "invalid",
        /^Cannot attach a netkit primary link to "lo": invalid argument$/,
      ],
      [
        `${progs}/uprobe_count`,
        { to: `${TARGET}:no_such_function`, pin },
        "not-found",
        /has no function "no_such_function"/,
      ],
      [
        `${progs}/uprobe_count`,
        { to: `${b.path}/nope:main`, pin },
        "not-found",
        /Cannot read binary/,
      ],
      [
        `${progs}/uprobe_count`,
        { to: `${TARGET}:bpfx_*`, pin },
        "invalid",
        /uprobe multi link/,
      ],
      [
        `${progs}/tp_count`,
        { to: "syscalls:sys_enter_nope", pin },
        "not-found",
        /^No tracepoint "syscalls:sys_enter_nope" in this kernel$/,
      ],
      [
        `${progs}/tp_count`,
        { to: "../../x:y", pin },
        "invalid",
        /Invalid tracepoint/,
      ],
      [
        `${progs}/raw_tp_count`,
        { to: "no_such_tp", pin },
        "not-found",
        /no raw tracepoint "no_such_tp"/,
      ],
      [
        `${progs}/perf_count`,
        { to: "software:nope", pin },
        "invalid",
        /Unknown software event "nope"/,
      ],
      [
        `${progs}/xdp_count`,
        { to: "lo", pin: "/tmp/bpfx-not-bpffs" },
        "not-bpffs",
        /is not on bpffs/,
      ],
      [
        `${progs}/xdp_count`,
        { to: "lo", pin: `${b.path}/a.b` },
        "invalid",
        /bpffs refuses '.' in names/,
      ],
      [`${b.path}/nope`, { to: "lo", pin }, "not-found", /nope/],
    ];
    for (const [prog, options, kind, message] of cases) {
      const e = caught(() => attachLink(prog, options));
      const what = `${prog} ${JSON.stringify(options)}: ${e.message}`;
      assert.equal(e.kind, kind, what);
      assert.match(e.message, message, what);
      assert.equal(await Deno.lstat(options.pin).catch(() => null), null);
    }
    for (const p of ["xdp_count", "tcx_count", "uprobe_count", "tp_count"]) {
      assert.deepEqual(await linksOf(progId(`${progs}/${p}`)), [], p);
    }
    // A pin that is taken is not replaced, and no link is made.
    const taken = `${progs}/tp_count`; // a pin that exists: the program's own
    const e = caught(() =>
      attachLink(`${progs}/raw_tp_count`, { to: "sys_enter", pin: taken })
    );
    assert.equal(e.kind, "exists");
    assert.match(e.message, /the name is already in use/);
    assert.equal(show(taken).kind, "prog");
    assert.deepEqual(await linksOf(progId(`${progs}/raw_tp_count`)), []);
  },
  { needs: [] },
);

Deno.test("bpfx attach refuses to mix --to with --cgroup-root, and needs --to and --pin", async () => {
  const cases: [string[], RegExp][] = [
    [
      [
        "attach",
        "p",
        "--to",
        "lo",
        "--pin",
        "/sys/fs/bpf/x",
        "--cgroup-root",
        "/",
      ],
      /^error: option '--to <target>' cannot be used with option '--cgroup-root <cgroup>' \(a rule over a cgroup subtree is 'bpfx rule add'\)\n/,
    ],
    [
      ["attach", "p", "--to", "lo"],
      /^error: required option '--pin <pin>' not specified\n/,
    ],
    [
      ["attach", "p", "--pin", "/sys/fs/bpf/x"],
      /^error: required option '--to <target>' not specified\n/,
    ],
    [
      ["attach", "p", "--mode", "native", "--name", "x"],
      /^error: unknown option '--name'\n/,
    ],
    [
      ["attach", "p"],
      /^error: required option '--to <target>' not specified\n/,
    ],
    [
      [
        "attach",
        "p",
        "--to",
        "lo",
        "--pin",
        "/sys/fs/bpf/x",
        "--attach-type",
        "egress",
      ],
      /^error: option '--attach-type <kind>' argument 'egress' is invalid/,
    ],
  ];
  for (const [args, message] of cases) {
    const io = captureIo();
    assert.equal(await main(args, { io }), 2, args.join(" "));
    assert.match(io.stderr(), message);
  }
});
