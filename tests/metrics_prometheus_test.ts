// `bpfx serve` scraped by a real Prometheus (Debian's package, installed
// by scripts/deps.sh), asked through its HTTP API: a cgroup_skb egress
// counter over 20 children, a rule's per-cgroup views beside `bpfx cat`,
// a histogram's quantile; and `bpfx watch --serve` showing a cgroup made
// after it started. bpfx runs through the launcher (`./bpfx`), so its
// permissions are the ones users get. Each test has its own bpffs,
// cgroups, state directory and Prometheus, removed in finally.
import { attach, load, openMap } from "../mod.ts";
import { main } from "../cli.ts";
import {
  assert,
  BPFX,
  captureIo,
  inode,
  kernelTest,
  privateBpffs,
  privateCgroups,
  privateState,
  ROOT,
  run,
  tempDir,
} from "./_kernel.ts";
import {
  freePort,
  prometheus,
  type PromSeries,
  promtool,
} from "./_prometheus.ts";

const PROGS = `${ROOT}/build/tests/cgroup_progs.bpf.o`;
const METRICS = `${ROOT}/build/tests/metrics.bpf.o`;
const CGSTAT = `${ROOT}/build/examples/cgstat.bpf.o`;
const UDP_SEND = `${ROOT}/build/tests/udp_send`;
const NEEDS = [
  "cgroup2",
  "link cgroup",
  "iterator cgroup",
  "iterator cgroup parameters",
] as const;

/** `bpfx ARGS...` as a child process, stopped with SIGTERM when disposed. */
async function bpfx(
  args: string[],
  healthz: string,
): Promise<AsyncDisposable & { stderr: () => string }> {
  const child = new Deno.Command(BPFX, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = (async () => {
    for await (const t of child.stderr.pipeThrough(new TextDecoderStream())) {
      log += t;
    }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await child.status;
    clearTimeout(timer);
    await reading;
  };
  const deadline = performance.now() + 20000;
  for (;;) {
    try {
      const r = await fetch(healthz);
      const text = await r.text();
      if (r.ok && text === "ok\n") break;
    } catch { /* not yet */ }
    if (performance.now() > deadline) {
      await stop();
      throw new Error(`bpfx ${args.join(" ")} did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { stderr: () => log, [Symbol.asyncDispose]: stop };
}

/**
 * Attaches cgstat views, rule "stat", to the children of `cgroupRoot`, pinned
 * below `<bpffs>/cgstat` and mirrored below `<dir>/mirror`; returns the pin root.
 */
async function attachStat(
  bpffs: string,
  cgroupRoot: string,
  state: string,
  dir: string,
): Promise<string> {
  const pinRoot = `${bpffs}/cgstat`;
  await attach(`${CGSTAT}:cgstat`, {
    cgroupRoot,
    pinRoot,
    exposeRoot: `${dir}/mirror`,
    name: "stat",
    depth: 1,
    state,
  });
  return pinRoot;
}

/** The series of `r` as `label=value` of `label`, sorted. */
function byLabel(r: PromSeries[], label: string): [string, number][] {
  return r.map((s): [string, number] => [s.metric[label] ?? "", s.value])
    .sort((a, b) => a[0].localeCompare(b[0]));
}

kernelTest(
  "a real Prometheus scraping `bpfx serve`: egress counts of exactly 7 and 13 labelled with their cgroups' paths, a rule's per-cgroup views equal to `bpfx cat`, histogram_quantile of a histogram map; promtool passes on both formats",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using state = await privateState();
    await using dir = await tempDir("bpfxserve-");
    const children = Array.from(
      { length: 20 },
      (_, i) => `c${String(i).padStart(2, "0")}`,
    );
    for (const c of children) await cg.make(c);
    load(PROGS, { pinDir: `${b.path}/p` });
    load(METRICS, { pinDir: `${b.path}/m` });
    await attach(`${b.path}/p/egress_count`, {
      cgroupRoot: cg.root,
      pinRoot: `${b.path}/egress`,
      name: "egress",
      depth: 1,
      attachType: "egress",
      state: state.path,
    });
    const statRoot = await attachStat(b.path, cg.root, state.path, dir.path);
    {
      using lat = openMap(`${b.path}/m/maps/latency`);
      lat.set({ op: 1, bucket: 6 }, 10n); // ten calls of up to 64 µs
      lat.set({ op: 1, bucket: 32 }, 500n); // their sum
    }
    const file = `${dir.path}/host.yaml`;
    await Deno.writeTextFile(
      file,
      `name: serve-test
metrics:
  maps:
    - name: egress_packets_total
      help: UDP packets sent, per cgroup
      map: ${b.path}/p/maps/egress_hits
      labels:
        - name: cgroup
          decoder: cgroup
    - name: call_latency_seconds
      type: histogram
      map: ${b.path}/m/maps/latency
      labels:
        - { name: op, field: op, decoder: static, values: { "1": read } }
      histogram: { buckets: exp2, field: bucket, max: 31, multiplier: 0.000001 }
  views:
    - name: cgstat
      rule: stat
      pinRoot: ${statRoot}
      keys: [id, level, tasks, descendants]
`,
    );
    const port = freePort();
    const addr = `127.0.0.1:${port}`;
    await using _serve = await bpfx(
      [
        "serve",
        "--listen",
        addr,
        "--config",
        file,
        "--state",
        state.path,
        "--enable-stats",
      ],
      `http://${addr}/healthz`,
    );
    // Sent while serve holds BPF_ENABLE_STATS: the program's runs count.
    for (const [c, n] of [["c03", 7], ["c11", 13]] as const) {
      const r = await run(UDP_SEND, [`${cg.root}/${c}`, String(n), "9"]);
      assert.equal(r.code, 0, r.stderr);
    }
    // Both formats, as a scraper gets them.
    const text = await (await fetch(`http://${addr}/metrics`)).text();
    assert.equal(await promtool(text), "", text);
    const om = await fetch(`http://${addr}/metrics`, {
      headers: { accept: "application/openmetrics-text; version=1.0.0" },
    });
    assert.match(
      om.headers.get("content-type") ?? "",
      /^application\/openmetrics-text; version=1.0.0/,
    );
    const omText = await om.text();
    assert.ok(omText.endsWith("# EOF\n"));
    assert.match(omText, /^# TYPE egress_packets counter$/m);

    await using prom = await prometheus(addr);
    const root = cg.root.slice(cg.mount.length);
    const egress = await prom.until(
      "egress_packets_total",
      (r) => r.length === 2,
    );
    assert.deepEqual(byLabel(egress, "cgroup"), [
      [`${root}/c03`, 7],
      [`${root}/c11`, 13],
    ]);

    // The rule's views: one series per cgroup, equal to `bpfx cat`.
    const ids = await prom.until("cgstat_id", (r) => r.length === 20);
    for (const [c, v] of byLabel(ids, "cgroup")) {
      const io = captureIo();
      assert.equal(
        await main(["cat", `${statRoot}/${c}/stat`], { io }),
        0,
        io.stderr(),
      );
      const cat = new TextDecoder().decode(io.stdout());
      assert.ok(cat.includes(`id=${v}\n`), `${c}: ${cat}`);
      assert.equal(v, await inode(`${cg.root}/${c}`));
    }
    assert.deepEqual(byLabel(ids, "cgroup").map(([c]) => c), children);

    // The histogram: all ten in the bucket up to 64 µs.
    const [q1] = await prom.until(
      "histogram_quantile(1, call_latency_seconds_bucket)",
      (r) => r.length === 1,
    );
    assert.equal(q1?.value, 64e-6);
    const [q5] = await prom.query(
      "histogram_quantile(0.5, call_latency_seconds_bucket)",
    );
    assert.equal(q5?.value, 48e-6); // halfway between 32 and 64 µs
    const [sum] = await prom.query("call_latency_seconds_sum");
    assert.equal(sum?.value, 500e-6);
    // The scrape itself: no errors, bpfx's own series there.
    assert.deepEqual(await prom.query("bpfx_scrape_errors_total"), []);
    // --enable-stats: the egress program ran once per packet (at least).
    // (With kernel.bpf_stats_enabled at 0, as on the test machines, only
    // serve's BPF_ENABLE_STATS counts them.)
    const [runs] = await prom.query(
      'bpfx_program_runs_total{name="egress_count"}',
    );
    assert.ok((runs?.value ?? 0) >= 20, JSON.stringify(runs));
    const rules = await prom.query('bpfx_rule_cgroups{state="attached"}');
    assert.deepEqual(byLabel(rules, "rule"), [["egress", 20], ["stat", 20]]);
  },
  { needs: NEEDS },
);

kernelTest(
  "`bpfx watch --serve`: a cgroup made after the watcher started is in the next scrape, and the watcher's lag is served",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    await using state = await privateState();
    await using dir = await tempDir("bpfxserve-");
    await cg.make("c00");
    await attachStat(b.path, cg.root, state.path, dir.path);
    const addr = `127.0.0.1:${freePort()}`;
    await using _watch = await bpfx(
      ["watch", "--serve", addr, "--state", state.path],
      `http://${addr}/healthz`,
    );
    const attached = async () => {
      const text = await (await fetch(`http://${addr}/metrics`)).text();
      assert.equal(await promtool(text), "", text);
      const m =
        /^bpfx_rule_cgroups\{rule="stat",[^}]*state="attached"\} (\d+)$/m
          .exec(text);
      return { n: Number(m?.[1]), text };
    };
    assert.equal((await attached()).n, 1);
    await cg.make("c01");
    const deadline = performance.now() + 10000;
    let last = await attached();
    while (last.n !== 2 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      last = await attached();
    }
    assert.equal(last.n, 2, last.text);
    assert.match(last.text, /^bpfx_watcher_lag_seconds [0-9.e-]+$/m);
  },
  { needs: [...NEEDS, "fanotify cgroupfs"] },
);
