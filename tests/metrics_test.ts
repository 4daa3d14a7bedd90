// bpfx's metrics against the real kernel: maps by BTF with each label
// decoder, a per-CPU map summed and split, a histogram, a hostile cgroup
// name and the series limit, as collectMetrics() reads them and as
// promtool checks the text they are written in; then a real Prometheus
// scraping `bpfx serve` (tests/metrics_prometheus_test.ts). Each test has
// its own bpffs, cgroups and state directory, removed in finally.
import {
  collectMetrics,
  createView,
  formatMetrics,
  load,
  type MapMetric,
  type MetricFamily,
  type MetricHistogram,
  MetricsCollector,
  type MetricsConfig,
  openMap,
  readView,
  unpin,
} from "../mod.ts";
import { main } from "../cli.ts";
import {
  assert,
  captureIo,
  child,
  inode,
  kernelTest,
  privateBpffs,
  privateCgroups,
  rejected,
  ROOT,
  run,
} from "./_kernel.ts";
import { promtool } from "./_prometheus.ts";

const OBJ = `${ROOT}/build/tests/metrics.bpf.o`;
const NEEDS = ["cgroup2"] as const;

/** Loads the test object under `bpffs`; returns its maps' directory. */
function loadMaps(bpffs: string): string {
  load(OBJ, { pinDir: `${bpffs}/m` });
  return `${bpffs}/m/maps`;
}

/** The family `name` of `families`. */
function family(families: readonly MetricFamily[], name: string): MetricFamily {
  const f = families.find((x) => x.name === name);
  assert.ok(
    f,
    `no family "${name}" in ${families.map((x) => x.name).join(", ")}`,
  );
  return f;
}

/** Each sample of `f` as `name{labels} value`, sorted. */
function lines(f: MetricFamily): string[] {
  return f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`)
    .sort();
}

/** The address of the kernel text symbol `name`, from /proc/kallsyms. */
async function kallsym(name: string): Promise<bigint> {
  const text = await Deno.readTextFile("/proc/kallsyms");
  const line = text.split("\n").find((l) => l.endsWith(` T ${name}`));
  assert.ok(line, `no symbol ${name}`);
  return BigInt(`0x${line.split(" ")[0]}`);
}

kernelTest(
  "collectMetrics() reads maps by BTF: every label decoder, a per-CPU map summed and split, an exp2 histogram; the text passes promtool",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    const maps = loadMaps(b.path);
    const web = await cg.make("web");
    const cgid = BigInt(await inode(web));
    const ip = await kallsym("schedule");
    {
      using m = openMap(`${maps}/decoded`);
      m.set({
        ifindex: 1,
        err: -2,
        nr: 257,
        addr: [10, 1, 2, 3],
        addr6: [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        comm: "bash",
        ip,
        cgroup: cgid,
      }, 42n);
      using pc = openMap(`${maps}/per_cpu`);
      const cpus = pc.meta.cpus;
      pc.set(
        0,
        Array.from(
          { length: cpus },
          (_, i) => ({ packets: BigInt(i + 1), bytes: 100n }),
        ),
      );
      using lat = openMap(`${maps}/latency`);
      lat.set({ op: 1, bucket: 6 }, 10n); // 10 values up to 64
      lat.set({ op: 1, bucket: 32 }, 600n); // their sum
    }
    const config: MetricsConfig = {
      maps: [
        {
          name: "decoded_total",
          map: `${maps}/decoded`,
          labels: [
            { name: "dev", field: "ifindex", decoder: "ifname" },
            { name: "err", field: "err", decoder: "errno" },
            { name: "syscall", field: "nr", decoder: "syscall" },
            { name: "addr", field: "addr", decoder: "inet_ip" },
            { name: "addr6", field: "addr6", decoder: "inet_ip" },
            { name: "comm", field: "comm", decoder: "string" },
            { name: "func", field: "ip", decoder: "ksym" },
            { name: "cgroup", field: "cgroup", decoder: "cgroup" },
            { name: "nr_hex", field: "nr", decoder: "hex" },
            { name: "nr", field: "nr" },
          ],
        },
        {
          name: "packets_total",
          map: `${maps}/per_cpu`,
          value: "packets",
          labels: [{ name: "queue" }],
        },
        {
          name: "bytes_per_cpu",
          type: "gauge",
          map: `${maps}/per_cpu`,
          value: "bytes",
          perCpu: "split",
          labels: [{ name: "queue" }],
        },
        {
          name: "latency_seconds",
          type: "histogram",
          map: `${maps}/latency`,
          labels: [{
            name: "op",
            field: "op",
            decoder: "static",
            values: { "1": "read" },
          }],
          // The map counts microseconds: the bounds are in seconds.
          histogram: {
            buckets: "exp2",
            field: "bucket",
            max: 31,
            multiplier: 1e-6,
          },
        },
      ],
    };
    const snap = await collectMetrics(config);
    assert.deepEqual(snap.errors, []);
    const rel = web.slice(cg.mount.length);
    assert.deepEqual(lines(family(snap.families, "decoded")), [
      `decoded_total${
        JSON.stringify({
          dev: "lo",
          err: "ENOENT",
          syscall: await syscallName(257),
          addr: "10.1.2.3",
          addr6: "2001:db8::1",
          comm: "bash",
          func: "schedule",
          cgroup: rel,
          nr_hex: "0x101",
          nr: "257",
        })
      } 42`,
    ]);
    using pc = openMap(`${maps}/per_cpu`);
    const cpus = pc.meta.cpus;
    const packets = family(snap.families, "packets").samples;
    // Queue 0 sums 1..cpus; the other three are zero.
    assert.deepEqual(
      packets.map((s) => [s.labels.queue, s.value]).sort(),
      [["0", (cpus * (cpus + 1)) / 2], ["1", 0], ["2", 0], ["3", 0]],
    );
    const split = family(snap.families, "bytes_per_cpu").samples.filter((s) =>
      s.labels.queue === "0"
    );
    assert.equal(split.length, cpus);
    assert.ok(split.every((s) => s.value === 100));
    const h = family(snap.families, "latency_seconds");
    assert.equal(h.type, "histogram");
    const sample = (name: string, le?: string) =>
      h.samples.find((s) => s.name === name && s.labels.le === le)?.value;
    const le = (us: number) => String(us * 1e-6);
    assert.equal(sample("latency_seconds_bucket", le(32)), 0);
    assert.equal(sample("latency_seconds_bucket", le(64)), 10);
    assert.equal(sample("latency_seconds_bucket", "+Inf"), 10);
    assert.equal(sample("latency_seconds_count"), 10);
    assert.equal(sample("latency_seconds_sum"), 600 * 1e-6);
    assert.equal(
      h.samples.filter((s) => s.name.endsWith("_bucket")).length,
      33,
    );
    for (const format of ["text", "openmetrics"] as const) {
      const text = formatMetrics(snap.families, format);
      if (format === "text") assert.equal(await promtool(text), "", text);
      else assert.ok(text.endsWith("# EOF\n"));
    }
    // bpfx's own: the maps on the host include these three.
    const own = family(snap.families, "bpfx_maps").samples;
    assert.ok((own.find((s) => s.labels.type === "hash")?.value ?? 0) >= 2);
    assert.ok(family(snap.families, "bpfx_build").samples[0]?.labels.version);
  },
  { needs: NEEDS },
);

/** This architecture's name of system call `nr` (from ausyscall's table in glibc's headers). */
async function syscallName(nr: number): Promise<string> {
  const r = await run("bash", [
    "-c",
    `printf '#include <sys/syscall.h>\\n' | cpp -dM | grep -E '^#define __NR_[a-z0-9_]+ ${nr}$' | head -1`,
  ]);
  const m = /__NR_([a-z0-9_]+)/.exec(r.stdout);
  assert.ok(m, `no name for syscall ${nr}: ${r.stderr}`);
  return m[1]!;
}

kernelTest(
  "collectMetrics() escapes a hostile cgroup name (quote, backslash, newline, \\xff) reversibly, promtool passes and the next series is intact; past the series limit series are dropped and counted",
  async () => {
    await using b = await privateBpffs();
    await using cg = await privateCgroups();
    const maps = loadMaps(b.path);
    // A name Deno cannot spell (it is not UTF-8): made and removed by bash.
    // The kernel refuses a newline in a cgroup's name (EINVAL): the newline
    // is in a string label instead.
    const hostile = `$'h"o\\\\st\\xff'`;
    const mk = await run("bash", [
      "-c",
      `mkdir "$0"/${hostile} && stat -c %i "$0"/${hostile}`,
      cg.root,
    ]);
    assert.equal(mk.code, 0, mk.stderr);
    try {
      const hostileId = BigInt(mk.stdout.trim());
      const next = await cg.make("zz-next");
      {
        using m = openMap(`${maps}/decoded`);
        const key = (cgroup: bigint, nr: number, comm = "") => ({
          ifindex: 0,
          err: 0,
          nr,
          addr: [0, 0, 0, 0],
          addr6: Array(16).fill(0),
          comm,
          ip: 0n,
          cgroup,
        });
        m.set(key(hostileId, 1, 'a"\\\nb'), 5n);
        m.set(key(BigInt(await inode(next)), 2), 6n);
        for (let i = 0; i < 50; i++) m.set(key(0n, 1000 + i), 1n);
      }
      const root = cg.root.slice(cg.mount.length);
      const collector = new MetricsCollector({
        seriesLimit: 40,
        maps: [{
          name: "by_cgroup_total",
          map: `${maps}/decoded`,
          labels: [
            { name: "cgroup", field: "cgroup", decoder: "cgroup" },
            { name: "nr", field: "nr" },
          ],
        }],
      });
      const snap = await collector.collect();
      const f = family(snap.families, "by_cgroup");
      assert.equal(f.samples.length, 40, "the limit holds");
      const dropped = family(snap.families, "bpfx_series_dropped").samples;
      assert.deepEqual(dropped.map((s) => [s.labels.metric, s.value]), [[
        "by_cgroup",
        12,
      ]]);
      const text = formatMetrics(snap.families, "text");
      assert.equal(await promtool(text), "", text);
      // Which 40 of the 52 entries are kept depends on the map's order:
      // read the two cgroups' series with a limit they fit in.
      const all = await collectMetrics({
        maps: [{
          name: "by_cgroup_total",
          map: `${maps}/decoded`,
          labels: [
            { name: "cgroup", field: "cgroup", decoder: "cgroup" },
            { name: "nr", field: "nr" },
            { name: "comm", field: "comm", decoder: "string" },
          ],
        }],
      });
      const out = formatMetrics(all.families, "text").split("\n");
      const at = out.indexOf(
        `by_cgroup_total{cgroup="${root}/h\\"o\\\\st%FF",nr="1",comm="a\\"\\\\\\nb"} 5`,
      );
      assert.ok(at >= 0, out.join("\n"));
      // The series after it is whole: escaping ended the hostile one.
      assert.ok(
        out.includes(
          `by_cgroup_total{cgroup="${root}/zz-next",nr="2",comm=""} 6`,
        ),
        out.join("\n"),
      );
      assert.equal(await promtool(out.join("\n")), "");
    } finally {
      await run("bash", ["-c", `rmdir "$0"/${hostile}`, cg.root]);
    }
  },
  { needs: NEEDS },
);

kernelTest(
  "new MetricsCollector() refuses a missing pin, a field the BTF lacks and a decoder that does not fit, naming the metric",
  async () => {
    await using b = await privateBpffs();
    const maps = loadMaps(b.path);
    const bad = async (config: MetricsConfig, re: RegExp) => {
      const e = await rejected(() => new MetricsCollector(config));
      assert.equal(e.kind, "invalid");
      assert.match(e.message, re);
    };
    await bad(
      { maps: [{ name: "x_total", map: `${maps}/nope` }] },
      /metrics\.maps\[0\] "x_total": .*nope/,
    );
    await bad(
      {
        maps: [{
          name: "x_total",
          map: `${maps}/decoded`,
          labels: [{ name: "a", field: "nope" }],
        }],
      },
      /has no member "nope" \(it has ifindex, err, nr/,
    );
    await bad(
      {
        maps: [{
          name: "x_total",
          map: `${maps}/decoded`,
          labels: [{ name: "a", field: "comm", decoder: "cgroup" }],
        }],
      },
      /decoder "cgroup" needs an 8-byte integer, but field "comm" is array of 16 bytes/,
    );
    await bad(
      {
        maps: [{ name: "x_total", map: `${maps}/latency`, type: "histogram" }],
      },
      /a histogram needs "histogram"/,
    );
  },
  { needs: [] },
);

kernelTest(
  "`bpfx serve --config` refuses a bad metrics section at start with the file's line and column",
  async () => {
    await using b = await privateBpffs();
    load(OBJ, { pinDir: `${b.path}/m` });
    const dir = await Deno.makeTempDir({ prefix: "bpfxmetrics-" });
    try {
      const cases: [string, RegExp][] = [
        [
          `    - name: gone_total\n      map: ${b.path}/m/maps/nope\n`,
          /host\.yaml:5:12: metrics\.maps\[0\] "gone_total": .*nope/,
        ],
        [
          `    - name: x_total\n      map: ${b.path}/m/maps/decoded\n      labels:\n        - name: a\n          field: nope\n`,
          /host\.yaml:8:18: metrics\.maps\[0\] "x_total": .*has no member "nope"/,
        ],
        [
          `    - name: x_total\n      map: ${b.path}/m/maps/decoded\n      labels:\n        - { name: a, field: comm, decoder: ifname }\n`,
          /host\.yaml:7:44: metrics\.maps\[0\] "x_total": .*decoder "ifname" needs an integer/,
        ],
        [
          `    - name: x_total\n      object: nope\n      map: decoded\n`,
          /host\.yaml:5:15: metrics\.maps\[0\] "x_total": no object entry "nope"/,
        ],
      ];
      for (const [maps, re] of cases) {
        const file = `${dir}/host.yaml`;
        await Deno.writeTextFile(file, `name: t\nmetrics:\n  maps:\n${maps}`);
        const io = captureIo();
        const code = await main(
          ["serve", "--config", file, "--listen", "127.0.0.1:0"],
          { io },
        );
        assert.equal(code, 1, io.stderr());
        assert.match(io.stderr(), re);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
  { needs: [] },
);

kernelTest(
  "a map that vanishes after start is a scrape error of its own source, and the other metrics are still read; concurrent scrapes share one read",
  async () => {
    await using b = await privateBpffs();
    const maps = loadMaps(b.path);
    const collector = new MetricsCollector({
      maps: [
        { name: "a_total", map: `${maps}/decoded` },
        {
          name: "b",
          type: "gauge",
          map: `${maps}/per_cpu`,
          value: "bytes",
          labels: [{ name: "q" }],
        },
      ],
    });
    assert.deepEqual((await collector.collect()).errors, []);
    unpin(`${maps}/decoded`);
    const snap = await collector.collect();
    assert.equal(snap.errors.length, 1);
    assert.equal(snap.errors[0]?.source, "map/a_total");
    assert.equal(family(snap.families, "b").samples.length, 4);
    const errs = family(snap.families, "bpfx_scrape_errors").samples;
    assert.deepEqual(errs.map((s) => [s.labels.source, s.value]), [[
      "map/a_total",
      1,
    ]]);
    await collector.collect();
    const again = family(
      (await collector.collect()).families,
      "bpfx_scrape_errors",
    );
    assert.equal(again.samples[0]?.value, 3, "counted per scrape");
    // Scrapes that arrive together share one read.
    const [x, y] = await Promise.all([
      collector.collect(),
      collector.collect(),
    ]);
    assert.ok(x === y, "two concurrent scrapes read twice");
  },
  { needs: [] },
);

kernelTest(
  "collectMetrics() reads a view's lines with a regular expression's named groups, and exp2zero, linear, fixed and value-array histograms",
  async () => {
    await using b = await privateBpffs();
    const maps = loadMaps(b.path);
    const pin = `${b.path}/tasks1`;
    // A process of one thread, whose view has one line.
    await using sleeper = child("sleep", ["60"]);
    createView(`${ROOT}/build/examples/tasks.bpf.o:tasks`, {
      pin,
      pid: sleeper.pid,
    });
    {
      using lat = openMap(`${maps}/latency`);
      lat.set({ op: 0, bucket: 0 }, 2n);
      lat.set({ op: 0, bucket: 3 }, 5n);
      using slots = openMap(`${maps}/slots`);
      slots.set(1, { counts: [1n, 0n, 4n, 0n, 0n, 0n, 0n, 0n] });
    }
    const line = /^\s*(?<tid>\d+)\s+\d+\s+(?<value>\d+)\s+(?<comm>\S+)$/;
    const hist = (name: string, histogram: MetricHistogram): MapMetric => ({
      name,
      type: "histogram",
      map: `${maps}/latency`,
      histogram,
    });
    const snap = await collectMetrics({
      maps: [
        hist("z", { buckets: "exp2zero", field: "bucket", max: 4 }),
        hist("l", {
          buckets: "linear",
          field: "bucket",
          max: 4,
          multiplier: 10,
        }),
        // fixed: the key's field holds the bound itself (0 and 3 here).
        hist("f", {
          buckets: "fixed",
          field: "bucket",
          max: 1,
          bounds: [0, 3],
        }),
      ],
      views: [{ name: "task_state", view: pin, regex: line.source }],
    });
    // The value an array of counts: a histogram per key (here 0 and 1).
    const arrays = await collectMetrics({
      maps: [{
        name: "a",
        type: "histogram",
        map: `${maps}/slots`,
        value: "counts",
        labels: [{ name: "slot" }],
        histogram: { buckets: "exp2", valueArray: true, max: 7 },
      }],
    });
    assert.deepEqual(snap.errors, []);
    const text = await readView(pin);
    const rows = text.split("\n").map((l) => line.exec(l)?.groups).filter((g) =>
      g !== undefined
    );
    assert.equal(rows.length, 1, text);
    // One series per thread, labelled by the other groups (a thread's
    // state may change between the two reads: its value is not compared).
    const states = family(snap.families, "task_state").samples;
    assert.deepEqual(
      states.map((x) => JSON.stringify(x.labels)).sort(),
      rows.map((g) => JSON.stringify({ tid: g.tid, comm: g.comm })).sort(),
    );
    assert.ok(states.every((x) => Number.isInteger(x.value)));
    const buckets = (name: string) =>
      family(snap.families, name).samples.filter((s) =>
        s.name.endsWith("_bucket")
      )
        .map((s) => `${s.labels.le}=${s.value}`);
    // Two values in bucket 0 and five in bucket 3.
    assert.deepEqual(buckets("z"), [
      "0=2",
      "1=2",
      "2=2",
      "4=7",
      "8=7",
      "+Inf=7",
    ]);
    assert.deepEqual(buckets("l"), [
      "0=2",
      "10=2",
      "20=2",
      "30=7",
      "40=7",
      "+Inf=7",
    ]);
    assert.deepEqual(buckets("f"), ["0=2", "3=7", "+Inf=7"]);
    const a = family(arrays.families, "a").samples.filter((x) =>
      x.labels.slot === "1" && (x.name === "a_count" || x.labels.le === "4")
    ).map((x) => `${x.name}{${x.labels.le ?? ""}}=${x.value}`);
    assert.deepEqual(a, ["a_bucket{4}=5", "a_count{}=5"]);
    assert.equal(await promtool(formatMetrics(snap.families, "text")), "");
    unpin(pin);
  },
  { needs: ["iterator task"] },
);
