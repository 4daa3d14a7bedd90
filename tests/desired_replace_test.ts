// Desired state, replace without a gap and crash safety, against the real
// kernel. The whole file (two objects, a configuration map, a
// view, a rule of views over a subtree, a cgroup_skb rule with depth 1, a
// uprobe link and two exposures) is applied; then one object's file is
// rebuilt from a changed source (build/tests/replace-v2.bpf.o, -DVARIANT=2):
// plan names one replace, and apply moves its links while a sender's UDP
// datagrams and a caller's uprobe hits are counted through it, with no
// datagram missed or counted twice (the cgroup link is moved with
// BPF_LINK_UPDATE) and no call missed (the uprobe link, which does not take
// it, is made anew before the old one goes). Apply is SIGKILLed at 20
// seeded random points of a file of 1,000 views; after each, plan names
// only what is missing and apply converges, and at the end nothing is left
// that no file owns. bpftool's own pin in the same bpffs is left alone
// throughout. updateLink() and renamePin() by themselves: what moves, what
// the kernel refuses, and how. And a watcher in the same process waits for
// apply's hold of the state lock, with no deadlock. Each test has its own
// bpffs, cgroups and state directory, removed in finally.
import { type DesiredFile, readDesired } from "../src/desired/file.ts";
import {
  apply,
  attachLink,
  createView,
  holdState,
  load,
  ls,
  NotSupportedError,
  openMap,
  plan,
  readManifest,
  renamePin,
  show,
  updateLink,
  watch,
} from "../mod.ts";
import { cli, type Host, host, statRule } from "./_desired.ts";
import {
  assert,
  bpftoolJson,
  bpftoolMap,
  caught,
  collect,
  eventually,
  exists,
  kernelTest,
  privateBpffs,
  ROOT,
  sleep,
  tempDir,
  tree,
} from "./_kernel.ts";

const NEEDS = [
  "cgroup2",
  "iterator task",
  "iterator task parameters",
  "iterator cgroup",
  "iterator cgroup parameters",
  "link cgroup",
  "link uprobe",
] as const;

const V1 = `${ROOT}/build/tests/replace.bpf.o`;
const V2 = `${ROOT}/build/tests/replace-v2.bpf.o`;
const TARGET = `${ROOT}/build/tests/link_target`;
const UDP_SEND = `${ROOT}/build/tests/udp_send`;

/** The two objects: "web" from `<dir>/web.bpf.o` (the one rebuilt), and cgstat. */
function objects(h: Host): string {
  return `objects:
  - name: web
    path: ${h.dir}/web.bpf.o
    pinDir: ${h.bpf}/web
    pinByNameRoot: ${h.bpf}
  - name: cgstat
    path: ${ROOT}/build/examples/cgstat.bpf.o
    pinDir: ${h.bpf}/cgstat
`;
}

/** The whole file; object "web" is loaded from `<dir>/web.bpf.o`. */
function whole(h: Host): string {
  return `name: host
${objects(h)}maps:
  - name: settings
    object: web
    map: settings
    entries: [{ key: 0, value: 1 }]
views:
  - name: variant
    object: web
    program: variant
    pin: ${h.bpf}/variant
    target: { pid: ${Deno.pid} }
rules:
${statRule(h)}  - name: egress
    object: web
    program: udp_egress
    cgroupRoot: ${h.cg}
    pinRoot: ${h.bpf}/cglinks
    depth: 1
links:
  - name: probe
    object: web
    program: probed
    to: ${TARGET}:bpfx_probed
    pin: ${h.bpf}/probe
exposures:
  - name: variant
    pin: ${h.bpf}/variant
    path: ${h.srv}/variant
  - name: settings
    pin: ${h.bpf}/web/maps/settings
    path: ${h.srv}/settings
`;
}

interface Action {
  action: string;
  kind: string;
  name: string;
  why: string;
}

async function planned(h: Host): Promise<{ code: number; actions: Action[] }> {
  const r = await cli(["plan", h.file, "--state", h.state, "--json"]);
  assert.ok(r.code === 0 || r.code === 2, r.out);
  return { code: r.code, actions: JSON.parse(r.out).actions };
}

/** A child process with its status, killed when disposed. */
function proc(
  cmd: string,
  args: string[],
): AsyncDisposable & { status: Promise<Deno.CommandStatus>; pid: number } {
  const p = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const status = p.output().then((o) => {
    if (!o.success) console.error(new TextDecoder().decode(o.stderr));
    return o as Deno.CommandStatus;
  });
  return {
    pid: p.pid,
    status,
    async [Symbol.asyncDispose]() {
      try {
        p.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
    },
  };
}

function counters(pin: string): bigint[] {
  using m = openMap<number, bigint>(pin);
  return [1, 2].map((k) => m.get(k) ?? 0n);
}

kernelTest(
  "apply replaces a rebuilt object with no gap: its cgroup link is moved (every datagram counted once), its uprobe link made before the old goes (no call missed), its view moved, bpftool's pin left alone",
  async () => {
    await using h = await host("bpfxreplace");
    await bpftoolMap(
      `${h.bpf}/theirs`,
      "type array key 4 value 4 entries 1 name theirs",
    );
    const theirs = show(`${h.bpf}/theirs`).id;
    await Deno.copyFile(V1, `${h.dir}/web.bpf.o`);
    await h.write(whole(h));
    const state = ["--state", h.state];
    const first = await cli(["apply", h.file, ...state]);
    assert.equal(first.code, 0, first.out);
    assert.equal((await planned(h)).code, 0, "converged");
    const view = show(`${h.bpf}/variant`);
    const links = ["a", "b"].map((c) => show(`${h.bpf}/cglinks/${c}/egress`));
    const probe = show(`${h.bpf}/probe`);
    assert.equal(probe.kind === "link" && probe.type, "perf_event");
    assert.match(await Deno.readTextFile(`${h.srv}/variant`), /^variant 1\n/);

    // The object's source changed (VARIANT 2) and was rebuilt.
    await Deno.copyFile(V2, `${h.dir}/web.bpf.o`);
    const p = await planned(h);
    assert.equal(p.code, 2);
    const objects = p.actions.filter((a) => a.kind === "object");
    assert.deepEqual(
      objects.map((a) => [a.name, a.action]),
      [["web", "replace"], ["cgstat", "keep"]],
    );
    assert.match(objects[0]!.why, /web\.bpf\.o" changed \(sha256/);
    for (const [kind, name] of [["rule", "stat"], ["exposure", "settings"]]) {
      const a = p.actions.find((a) => a.kind === kind && a.name === name);
      assert.ok(a !== undefined, `${kind} ${name}`);
    }
    for (const [kind, name] of [["view", "variant"], ["rule", "egress"]]) {
      const a = p.actions.find((a) => a.kind === kind && a.name === name)!;
      assert.equal(a.action, "replace", `${kind} ${name}`);
      assert.match(a.why, /loaded anew with object "web"/);
    }
    assert.equal(
      p.actions.find((a) => a.kind === "rule" && a.name === "stat")?.action,
      "keep",
    );

    // Traffic through the replace: a sender in cgroup "a", and a caller of
    // the probed function, both started before apply and ending after it.
    // A few seconds each here; apply takes about 0.2 s.
    const sent = 300_000;
    // link_target checks its sum in an int: 40,000 calls a run.
    const runs = 5;
    const calls = runs * 40_000;
    await using sender = proc(UDP_SEND, [`${h.cg}/a`, String(sent), "9"]);
    const hits = `${h.bpf}/replace_hits`;
    const probes = `${h.bpf}/replace_probes`;
    for (let i = 0; i < 200 && counters(hits)[0] === 0n; i++) await sleep(5);
    assert.ok(counters(hits)[0]! > 0n, "the sender is counted before apply");
    await using caller = proc("sh", [
      "-c",
      `for i in $(seq ${runs}); do "${TARGET}" 40000 || exit 1; done`,
    ]);
    for (let i = 0; i < 200 && counters(probes)[0] === 0n; i++) await sleep(5);
    const applied = await cli(["apply", h.file, ...state, "--json"]);
    const hitsAtEnd = counters(hits);
    const probesAtEnd = counters(probes);
    const senderDone = await sender.status;
    const callerDone = await caller.status;
    assert.equal(applied.code, 0, applied.out);
    assert.ok(
      senderDone.success && callerDone.success,
      `sender ${senderDone.code}, caller ${callerDone.code}`,
    );
    assert.ok(
      hitsAtEnd[0]! + hitsAtEnd[1]! < BigInt(sent),
      `the sender was still sending when apply ended (${hitsAtEnd})`,
    );
    const [h1, h2] = counters(hits);
    assert.ok(h1! > 0n && h2! > 0n, `both variants counted (${h1}, ${h2})`);
    assert.equal(h1! + h2!, BigInt(sent), "each datagram counted once");
    const [p1, p2] = counters(probes);
    assert.ok(
      probesAtEnd[0]! + probesAtEnd[1]! < BigInt(calls),
      `the caller was still calling when apply ended (${probesAtEnd})`,
    );
    assert.ok(p2! > 0n, "the new uprobe counts");
    assert.ok(p1! + p2! >= BigInt(calls), `no call missed (${p1} + ${p2})`);

    // The links are the same links, now of the new programs.
    const prog = (name: string) => show(`${h.bpf}/web/${name}`).id;
    const viewNow = show(`${h.bpf}/variant`);
    assert.equal(viewNow.id, view.id, "the view's link was moved");
    assert.equal(viewNow.kind === "link" && viewNow.progId, prog("variant"));
    assert.match(await Deno.readTextFile(`${h.srv}/variant`), /^variant 2\n/);
    for (const [i, c] of ["a", "b"].entries()) {
      const now = show(`${h.bpf}/cglinks/${c}/egress`);
      assert.equal(now.id, links[i]!.id, `cgroup ${c}: the link was moved`);
      assert.equal(now.kind === "link" && now.progId, prog("udp_egress"));
    }
    const shown = await bpftoolJson<{ id: number }[]>([
      "cgroup",
      "show",
      `${h.cg}/a`,
    ]);
    assert.deepEqual(shown.map((x) => x.id), [prog("udp_egress")]);
    const probeNow = show(`${h.bpf}/probe`);
    assert.notEqual(probeNow.id, probe.id, "a uprobe link is made anew");
    assert.equal(probeNow.kind === "link" && probeNow.progId, prog("probed"));
    await proc(TARGET, ["5"]).status;
    assert.equal(counters(probes)[1], p2! + 5n, "the old uprobe is gone");
    using settings = openMap<number, bigint>(`${h.bpf}/web/maps/settings`);
    assert.equal(settings.get(0), 1n, "the configuration map is written");

    // Nothing staged is left, the second apply has nothing to do, and
    // bpftool's pin is as it was.
    assert.deepEqual(
      (await tree(h.bpf)).filter((p) => p.includes("%next")),
      [],
    );
    assert.equal((await planned(h)).code, 0);
    assert.equal(show(`${h.bpf}/theirs`).id, theirs);
  },
  { needs: NEEDS },
);

/** A small seeded generator (mulberry32): the same seed, the same points. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VIEWS = 1000;

/**
 * Round `r` of the large file: 1,000 views less the twentieth of them
 * that round `r` leaves out (another each round), each of the task
 * iterator of object "web" for this process or for pid 1 (a quarter of
 * them swap each round), and a rule of views over the test's cgroups but
 * every third round. The object's file changes every fourth round.
 */
function large(
  h: Host,
  r: number,
): { text: string; pids: Map<string, number> } {
  const pids = new Map<string, number>();
  let text = `name: big
${objects(h)}views:
`;
  for (let i = 0; i < VIEWS; i++) {
    if ((i + r) % 20 === 0) continue;
    const name = `v${String(i).padStart(4, "0")}`;
    const pid = (i + r) % 8 < 4 ? 1 : Deno.pid;
    pids.set(name, pid);
    text +=
      `  - { name: ${name}, object: web, program: variant, pin: ${h.bpf}/${name}, target: { pid: ${pid} } }\n`;
  }
  if (r % 3 !== 2) {
    text += `rules:
${statRule(h)}`;
  }
  return { text, pids };
}

/** A file's inode and change time, to see it replaced; "" when missing. */
async function stamp(path: string): Promise<string> {
  try {
    const st = await Deno.stat(path);
    return `${st.ino} ${st.mtime?.getTime()}`;
  } catch {
    return "";
  }
}

/** Every file under `dir` (directories left out), or none when it is gone. */
async function files(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  const out: string[] = [];
  for (const p of await tree(dir)) {
    if (!(await Deno.lstat(p)).isDirectory) out.push(p);
  }
  return out;
}

/**
 * Checks the host after a crash: every pin and mirror file is owned by the
 * manifest (bpffs's preloaded files and bpftool's pin aside), and plan names
 * exactly the views that are not as the file says (missing, of another
 * target or program, or with a staged pin left), and the views owned that
 * the file no longer names.
 */
async function checkAfterCrash(
  h: Host,
  read: DesiredFile,
  pids: Map<string, number>,
  why: string,
): Promise<void> {
  const m = readManifest({ state: h.state });
  const owned = m.desired?.flatMap((f) => f.entries) ?? [];
  const ownedPins = new Set(owned.flatMap((e) => e.pins));
  // The rule's tree is owned by the rule in the manifest, or by the file's
  // rule entry (recorded before attach, which records the rule only after
  // it made the views: a crash between leaves the entry as their owner,
  // and the next plan names the rule).
  const rule = m.rules.some((r) => r.name === "stat") ||
    owned.some((e) => e.kind === "rule" && e.name === "stat");
  for (const p of await files(h.bpf)) {
    if (/\/(maps|progs)\.debug$|\/theirs$/.test(p)) continue;
    const ok = ownedPins.has(p) ||
      (rule && p.startsWith(`${h.bpf}/cgviews/`));
    assert.ok(ok, `${why}: "${p}" is pinned and nothing owns it`);
  }
  for (const p of await files(`${h.srv}/cg`)) {
    assert.ok(rule, `${why}: mirror file "${p}" with no rule`);
    const to = await Deno.readLink(p);
    assert.ok(await exists(to), `${why}: "${p}" points at nothing`);
  }
  const progs = new Map<string, number>();
  const prog = (p: string) => {
    if (!progs.has(p)) {
      progs.set(
        p,
        (() => {
          try {
            return show(p).id;
          } catch {
            return -1;
          }
        })(),
      );
    }
    return progs.get(p)!;
  };
  const actions = plan(read.desired, {
    state: h.state,
    checked: read.checked,
  }).actions;
  const webFresh = actions.some((a) =>
    a.kind === "object" && a.name === "web" && a.action !== "keep"
  );
  for (const a of actions.filter((a) => a.kind === "view")) {
    const pin = `${h.bpf}/${a.name}`;
    if (a.action === "remove") {
      assert.ok(!pids.has(a.name), `${why}: ${a.name} removed but named`);
      continue;
    }
    let right = false;
    try {
      const now = show(pin);
      right = now.kind === "link" && now.target.pid === pids.get(a.name) &&
        now.progId === prog(`${h.bpf}/web/variant`) && !webFresh &&
        !(await exists(`${pin}%next`)) &&
        owned.some((e) =>
          e.kind === "view" && e.name === a.name &&
          (e as unknown as { spec: { target: { pid: number } } }).spec.target
              .pid ===
            pids.get(a.name)
        );
    } catch {
      right = false;
    }
    assert.equal(
      a.action === "keep",
      right,
      `${why}: view ${a.name} is ${a.action} (${a.why})`,
    );
  }
  const named = new Set(actions.map((a) => `${a.kind}/${a.name}`));
  for (const e of owned) {
    assert.ok(
      named.has(`${e.kind}/${e.name}`),
      `${why}: ${e.kind} ${e.name} is owned and plan does not name it`,
    );
  }
}

kernelTest(
  "apply SIGKILLed at 20 seeded random points of a file of 1,000 views: after each, plan names only what is missing and apply converges; nothing is left that no file owns",
  async () => {
    const seed = Number(Deno.env.get("BPFX_TEST_SEED") ?? Date.now() % 1e9);
    console.log(
      `seed ${seed} (BPFX_TEST_SEED=${seed} repeats the same delays; where they fall depends on the machine)`,
    );
    const next = random(seed);
    await using h = await host("bpfxreplace");
    await bpftoolMap(
      `${h.bpf}/theirs`,
      "type array key 4 value 4 entries 1 name theirs",
    );
    const theirs = show(`${h.bpf}/theirs`).id;
    const started = Date.now();
    let killed = 0;
    let window = 600;
    for (let r = 0; r < 20; r++) {
      await Deno.copyFile(
        Math.floor(r / 4) % 2 === 0 ? V1 : V2,
        `${h.dir}/web.bpf.o`,
      );
      const { text, pids } = large(h, r);
      await h.write(text);
      // The point: once the apply has started to change the host (its
      // first write of the manifest; before it, it only reads and plans),
      // a random time within about the time a round's changes take, which
      // depends on the machine: the window shrinks when an apply ended
      // first, and grows when one was cut.
      const delay = Math.floor(next() * window);
      const manifest = `${h.state}/manifest.json`;
      const before = await stamp(manifest);
      const p = new Deno.Command(`${ROOT}/bpfx`, {
        args: ["apply", h.file, "--state", h.state],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      let ended = false;
      p.status.then(() => ended = true);
      while (!ended && await stamp(manifest) === before) await sleep(5);
      await sleep(delay);
      try {
        p.kill("SIGKILL");
      } catch { /* it ended first */ }
      const status = await p.status;
      const why =
        `round ${r} (seed ${seed}, killed ${delay} ms into its changes${
          status.signal === null ? ", but it had ended" : ""
        })`;
      if (status.signal !== null) killed++;
      window = status.signal === null
        ? Math.max(50, window * 0.6)
        : Math.min(3000, window * 1.15);
      // The file is read once a round: the YAML parse of 1,000 entries
      // is most of a plan's time.
      const read = readDesired(h.file);
      const options = { state: h.state, checked: read.checked };
      await checkAfterCrash(h, read, pids, why);
      await apply(read.desired, options);
      assert.equal(
        plan(read.desired, options).changes,
        false,
        `${why}: converged`,
      );
    }
    console.log(
      `20 rounds in ${
        Date.now() - started
      } ms, ${killed} killed while changing the host`,
    );
    assert.ok(killed >= 10, "most applies were cut short");
    // Nothing left once the file names nothing: no pin, link, or mirror
    // file, and nothing recorded; bpftool's pin is as it was.
    await h.write("name: big\n");
    assert.equal((await cli(["apply", h.file, "--state", h.state])).code, 0);
    assert.deepEqual(
      (await files(h.bpf)).filter((p) =>
        !/\/(maps|progs)\.debug$|\/theirs$/.test(p)
      ),
      [],
    );
    assert.deepEqual(await files(`${h.srv}/cg`), []);
    assert.equal(readManifest({ state: h.state }).desired, undefined);
    assert.equal(show(`${h.bpf}/theirs`).id, theirs);
    assert.deepEqual(ls(h.bpf).filter((e) => e.kind === "link"), []);
  },
  { needs: NEEDS },
);

kernelTest(
  "updateLink() moves an iterator link onto another program in place, refuses with old when it holds another, refuses a uprobe link as not-supported and a program of another type; renamePin() moves a pin, replaces one or refuses with noReplace, and refuses off bpffs",
  async () => {
    await using b = await privateBpffs();
    await using off = await tempDir("bpfxrename");
    const v1 = `${b.path}/v1`;
    const v2 = `${b.path}/v2`;
    load(V1, { pinDir: v1, pinByNameRoot: b.path });
    load(V2, { pinDir: v2, pinByNameRoot: b.path });
    const view = `${b.path}/view`;
    const made = createView(`${v1}/variant`, { pin: view, pid: Deno.pid });
    assert.match(await Deno.readTextFile(view), /^variant 1\n/);
    const moved = updateLink(view, `${v2}/variant`, { old: `${v1}/variant` });
    assert.deepEqual(moved, {
      linkId: made.id,
      type: "iter",
      fromProgId: show(`${v1}/variant`).id,
      toProgId: show(`${v2}/variant`).id,
    });
    assert.match(await Deno.readTextFile(view), /^variant 2\n/);
    const busy = caught(() =>
      updateLink(view, `${v1}/variant`, { old: `${v1}/variant` })
    );
    assert.equal(busy.kind, "busy");
    assert.match(busy.message, /no longer holds the program/);
    const other = caught(() => updateLink(view, `${v1}/udp_egress`));
    assert.equal(other.kind, "invalid");

    const probe = `${b.path}/probe`;
    attachLink(`${v1}/probed`, { to: `${TARGET}:bpfx_probed`, pin: probe });
    const refused = caught(() => updateLink(probe, `${v2}/probed`));
    assert.ok(refused instanceof NotSupportedError, refused.message);
    assert.match(refused.message, /a perf_event link does not take/);

    // Within bpffs: a move, a replace, a refusal.
    const moved2 = `${b.path}/d/e/view`;
    renamePin(view, moved2, { parents: true });
    assert.equal(await exists(view), false);
    assert.equal(show(moved2).id, made.id);
    const taken = caught(() => renamePin(probe, moved2, { noReplace: true }));
    assert.ok(taken instanceof Deno.errors.AlreadyExists, taken.message);
    const probeId = show(probe).id;
    renamePin(probe, moved2);
    assert.equal(show(moved2).id, probeId, "replaced in one step");
    const offBpffs = caught(() => renamePin(moved2, `${off.path}/x`));
    assert.equal(offBpffs.kind, "not-bpffs");
    assert.ok(await exists(moved2));
  },
  { needs: ["iterator task", "iterator task parameters", "link uprobe"] },
);

kernelTest(
  "a watcher in the same process waits while apply holds the state lock, and neither hangs: apply's own locks share the hold, the watcher takes up the new cgroups after, and one opened under the hold is refused",
  async () => {
    await using h = await host("bpfxhold");
    await h.write(`name: host
${objects(h)}rules:
${statRule(h)}`);
    await Deno.copyFile(V1, `${h.dir}/web.bpf.o`);
    const options = { state: h.state };
    await apply(readDesired(h.file).desired, options);
    {
      // A watcher opened under this process's own hold would wait for it
      // forever: refused instead.
      using _held = holdState(options);
      const e = caught(() => watch(options));
      assert.equal(e.kind, "busy", e.message);
      assert.match(e.message, /this process holds its lock/);
    }
    await using watcher = watch(options);
    const seen = collect(watcher);
    await eventually("the watcher started", () => seen.items.length > 0);
    const made = (rel: string) =>
      seen.items.some((a) => a.action === "view-made" && a.cgroup === rel);
    {
      using _held = holdState(options);
      await Deno.mkdir(`${h.cg}/c`);
      // The watcher sees the new cgroup but waits for the lock.
      await sleep(500);
      assert.equal(made("c"), false, "no view made while the lock is held");
      // apply, in this process, takes the lock through the hold: no wait.
      const r = await apply(readDesired(h.file).desired, options);
      const stat = r.actions.find((a) => a.name === "stat")!;
      assert.equal(stat.action, "replace", stat.why);
      assert.ok(await exists(`${h.bpf}/cgviews/c/stat`), "apply made it");
      assert.equal(made("c"), false);
    }
    // Released: the watcher goes on, and takes up the next cgroup.
    await Deno.mkdir(`${h.cg}/d`);
    await eventually("the watcher made d's view", () => made("d"));
    assert.ok(await exists(`${h.srv}/cg/d/stat`));
    await watcher[Symbol.asyncDispose]();
    await seen.done;
  },
  { needs: [...NEEDS, "fanotify cgroupfs", "fanotify bpffs"] },
);

kernelTest(
  "updateLink() is refused, as not-supported, by a raw tracepoint link, which stays as it was",
  async () => {
    await using b = await privateBpffs();
    const obj = `${ROOT}/build/tests/links.bpf.o`;
    load(obj, { pinDir: `${b.path}/a` });
    load(obj, { pinDir: `${b.path}/b` });
    // (A uprobe's perf_event link: the test above. Kprobes and tracefs are
    // not on every machine of this kind.)
    const cases: [string, string, string][] = [
      ["raw_tp_count", "sys_enter", "raw_tracepoint"],
    ];
    for (const [prog, to, type] of cases) {
      const pin = `${b.path}/${prog}-link`;
      const made = attachLink(`${b.path}/a/${prog}`, { to, pin });
      assert.equal(made.type, type, prog);
      const e = caught(() => updateLink(pin, `${b.path}/b/${prog}`));
      assert.ok(e instanceof NotSupportedError, `${prog}: ${e.message}`);
      assert.match(e.message, new RegExp(`a ${type} link does not take`));
      const now = show(pin);
      assert.equal(now.kind === "link" && now.progId, made.progId, prog);
    }
  },
  { needs: [] },
);

kernelTest(
  "a view whose pin moves in the file is made at its new pin and its old pin goes",
  async () => {
    await using h = await host("bpfxmove");
    const file = (pin: string) =>
      `name: host
objects:
  - name: tasks
    path: ${ROOT}/build/examples/tasks.bpf.o
    pinDir: ${h.bpf}/tasks
views:
  - name: mine
    object: tasks
    program: tasks
    pin: ${h.bpf}/${pin}
    target: { pid: ${Deno.pid} }
`;
    await h.write(file("here"));
    const options = { state: h.state };
    await apply(readDesired(h.file).desired, options);
    assert.ok(await exists(`${h.bpf}/here`));
    await h.write(file("there"));
    const r = await apply(readDesired(h.file).desired, options);
    assert.deepEqual(
      r.actions.filter((a) => a.action !== "keep").map((a) => a.name),
      ["mine"],
    );
    assert.equal(await exists(`${h.bpf}/here`), false, "the old pin went");
    assert.ok(await exists(`${h.bpf}/there`));
    assert.equal(plan(readDesired(h.file).desired, options).changes, false);
    const owned = readManifest(options).desired?.[0]?.entries.find((e) =>
      e.name === "mine"
    );
    assert.deepEqual(owned?.pins, [`${h.bpf}/there`]);
  },
  { needs: ["iterator task", "iterator task parameters"] },
);
