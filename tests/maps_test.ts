// Maps on the data lane against the real kernel: typed and raw round trips
// on every map type of examples/maps.bpf.c, ring buffer records, bpftool
// interop both ways, every map of Debian's xdp-tools objects, the `bpfx map`
// commands, and bad input. Each test loads what it needs into its own
// private bpffs, removed in finally.
import {
  type BpfMap,
  type Codec,
  createView,
  load,
  type LoadReport,
  openMap,
  openRingBuf,
  openView,
} from "../mod.ts";
import { main } from "../cli.ts";
import {
  assert,
  bpftool,
  bpftoolJson,
  bpftoolMap,
  BPFX,
  captureIo,
  eventually,
  kernelTest,
  privateBpffs,
  rejected,
  ROOT,
  run,
  XDP_DIR,
} from "./_kernel.ts";

const MAPS = `${ROOT}/build/examples/maps.bpf.o`;
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Helpers

/** Loads examples/maps.bpf.o under `root`; returns the maps' directory. */
function loadMaps(root: string): { maps: string; report: LoadReport } {
  const report = load(MAPS, { pinDir: `${root}/m`, pinByNameRoot: root });
  return { maps: `${root}/m/maps`, report };
}

/** `n` as `size` little-endian bytes, in bpftool's `hex` words. */
function hexLe(n: bigint | number, size: number): string[] {
  let v = BigInt(n);
  const out: string[] = [];
  for (let i = 0; i < size; i++) {
    out.push((v & 0xffn).toString(16).padStart(2, "0"));
    v >>= 8n;
  }
  return out;
}

/** Bytes as bpftool's JSON lists them. */
function jsonBytes(bytes: Uint8Array | number[]): string[] {
  return Array.from(bytes, (b) => `0x${b.toString(16).padStart(2, "0")}`);
}

/** Runs the CLI in-process. */
async function cli(
  args: string[],
  signal?: AbortSignal,
): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(
    args,
    signal === undefined ? { io } : { io, signal },
  );
  return { code, out: decoder.decode(io.stdout()), err: io.stderr() };
}

interface DumpEntry {
  key: string[];
  value?: string[] | { error: string };
  values?: { cpu: number; value: string[] }[];
  formatted?: Record<string, unknown>;
}

/** Entries by their key, without `formatted`. */
function byKey(entries: DumpEntry[]): Map<string, unknown> {
  return new Map(
    entries.map((e) => [e.key.join(" "), { ...e, formatted: undefined }]),
  );
}

/** bpftool's bitfields are "0x.." strings; bpfx gives numbers. */
function numbersForHex(v: unknown): unknown {
  if (typeof v === "string" && /^0x[0-9a-f]+$/.test(v)) return parseInt(v, 16);
  if (Array.isArray(v)) return v.map(numbersForHex);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, numbersForHex(x)]),
    );
  }
  return v;
}

interface FlowKey {
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  proto: number;
}

interface FlowValue {
  comm: string;
  state: string | number;
  pid: number;
  urgent: number;
  prio: number;
  mark: number;
  stats: { packets: bigint; bytes: bigint };
  ports: number[];
  delta: number;
}

const FLOW_KEY: FlowKey = {
  saddr: 0x0a000001,
  daddr: 0x0a000002,
  sport: 40000,
  dport: 443,
  proto: 6,
};

const FLOW_VALUE: FlowValue = {
  comm: "curl",
  state: "FLOW_ESTABLISHED",
  pid: 4242,
  urgent: 1,
  prio: 5,
  mark: 0xabc,
  stats: { packets: 3n, bytes: (1n << 40n) + 7n },
  ports: [1, 2, 65535, 4],
  delta: -7,
};

// ---------------------------------------------------------------------------
// Round trips, typed by BTF

kernelTest(
  "BpfMap typed by BTF round-trips a hash, an array and an LRU hash: get, set, has, delete, lookupAndDelete",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);

    using counts = openMap<number, bigint>(`${maps}/counts`);
    assert.equal(counts.type, "hash");
    assert.deepEqual(
      [counts.meta.keySize, counts.meta.valueSize, counts.meta.perCpu],
      [4, 8, false],
    );
    assert.equal(counts.btf()?.key.kind, "int");
    assert.equal(counts.get(1), undefined);
    counts.set(1, 10n);
    counts.set(0xffff_ffff, (1n << 64n) - 1n);
    (counts as BpfMap<number, bigint | number>).set(2, 20); // a safe integer for a u64
    assert.equal(counts.get(1), 10n);
    assert.equal(counts.get(0xffff_ffff), (1n << 64n) - 1n);
    assert.equal(counts.get(2), 20n);
    assert.ok(counts.has(1));
    assert.ok(!counts.has(3));
    counts.set(1, 11n, { flag: "exist" });
    assert.equal(counts.get(1), 11n);
    assert.equal(counts.lookupAndDelete(1), 11n);
    assert.equal(counts.get(1), undefined);
    counts.delete(2);
    assert.ok(!counts.has(2));
    const missing = await rejected(() => counts.delete(2));
    assert.ok(missing instanceof Deno.errors.NotFound);
    assert.equal(missing.op, "BPF_MAP_DELETE_ELEM");
    assert.equal(missing.path, `${maps}/counts`);
    const taken = await rejected(() => counts.lookupAndDelete(2));
    assert.ok(taken instanceof Deno.errors.NotFound);
    assert.equal(taken.op, "BPF_MAP_LOOKUP_AND_DELETE_ELEM");
    const dup = await rejected(() =>
      counts.set(0xffff_ffff, 1n, { flag: "noexist" })
    );
    assert.ok(dup instanceof Deno.errors.AlreadyExists);
    assert.equal(dup.op, "BPF_MAP_UPDATE_ELEM");
    const absent = await rejected(() => counts.set(5, 1n, { flag: "exist" }));
    assert.ok(absent instanceof Deno.errors.NotFound);

    // getInto: the raw bytes, into the caller's buffer.
    const out = new Uint8Array(8);
    assert.ok(counts.getInto(0xffff_ffff, out));
    assert.deepEqual([...out], [255, 255, 255, 255, 255, 255, 255, 255]);
    assert.ok(!counts.getInto(9, out));

    using slots = openMap<number, bigint>(`${maps}/slots`);
    assert.equal(slots.type, "array");
    assert.equal(slots.get(3), 0n); // every index of an array exists
    slots.set(3, 33n);
    assert.equal(slots.get(3), 33n);
    assert.equal(slots.get(64), undefined); // past the end
    const del = await rejected(() => slots.delete(3));
    assert.equal(del.errno, 22);
    assert.match(del.message, /cannot be deleted/);
    const noexist = await rejected(() => slots.set(3, 1n, { flag: "noexist" }));
    assert.match(noexist.message, /always exist|the key exists/);

    using recent = openMap<number, bigint>(`${maps}/recent`);
    assert.equal(recent.type, "lru_hash");
    // An LRU hash never fills up: it evicts.
    for (let i = 0; i < 1000; i++) recent.set(i, BigInt(i) * 2n);
    assert.equal(recent.get(999), 1998n);
    const kept = recent.keys().toArray();
    assert.ok(kept.length > 0 && kept.length <= 1000, `${kept.length}`);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "BpfMap encodes and decodes a struct key and value: char[16], an enum, bitfields, a nested struct, an array, padding",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    using flows = openMap<FlowKey, FlowValue>(`${maps}/flows`);
    flows.set(FLOW_KEY, FLOW_VALUE);
    assert.deepEqual(flows.get(FLOW_KEY), FLOW_VALUE);

    // The key's 3 bytes of padding are written as zeros, whatever came
    // before in the reused buffer, so the same key finds the same entry.
    flows.set({ ...FLOW_KEY, proto: 255, saddr: 0xffff_ffff }, FLOW_VALUE);
    assert.deepEqual(flows.get(FLOW_KEY), FLOW_VALUE);

    // Missing fields are zero; enums by number and unknown values.
    const partial = flows as unknown as BpfMap<FlowKey, Partial<FlowValue>>;
    partial.set({ ...FLOW_KEY, sport: 1 }, { pid: 7, state: 2 });
    assert.deepEqual(flows.get({ ...FLOW_KEY, sport: 1 }), {
      comm: "",
      state: "FLOW_CLOSING",
      pid: 7,
      urgent: 0,
      prio: 0,
      mark: 0,
      stats: { packets: 0n, bytes: 0n },
      ports: [0, 0, 0, 0],
      delta: 0,
    });
    partial.set({ ...FLOW_KEY, sport: 2 }, {
      state: 9,
      comm: "0123456789abcdef",
    });
    const odd = flows.get({ ...FLOW_KEY, sport: 2 });
    assert.equal(odd?.state, 9);
    assert.equal(odd?.comm, "0123456789abcdef"); // 16 bytes, no NUL

    // Bitfields do not spill into their neighbours.
    partial.set({ ...FLOW_KEY, sport: 3 }, { urgent: 1, prio: 0, mark: 0xfff });
    const bits = flows.get({ ...FLOW_KEY, sport: 3 });
    assert.deepEqual([bits?.urgent, bits?.prio, bits?.mark], [1, 0, 0xfff]);

    // The bytes, as C lays them out.
    using raw = openMap<Uint8Array, Uint8Array>(`${maps}/flows`, {
      raw: true,
    });
    const key = new Uint8Array(16);
    const kdv = new DataView(key.buffer);
    kdv.setUint32(0, FLOW_KEY.saddr, true);
    kdv.setUint32(4, FLOW_KEY.daddr, true);
    kdv.setUint16(8, FLOW_KEY.sport, true);
    kdv.setUint16(10, FLOW_KEY.dport, true);
    key[12] = FLOW_KEY.proto;
    const value = raw.get(key);
    assert.ok(value instanceof Uint8Array && value.length === 64);
    const vdv = new DataView(value.buffer, value.byteOffset, 64);
    assert.equal(decoder.decode(value.subarray(0, 4)), "curl");
    assert.equal(vdv.getUint32(16, true), 1); // FLOW_ESTABLISHED
    assert.equal(vdv.getUint32(20, true), 4242);
    assert.equal(vdv.getUint32(24, true), 1 | (5 << 1) | (0xabc << 4));
    assert.equal(vdv.getBigUint64(32, true), 3n);
    assert.equal(vdv.getBigUint64(40, true), (1n << 40n) + 7n);
    assert.equal(vdv.getUint16(52, true), 65535);
    assert.equal(vdv.getInt32(56, true), -7);

    const keys = (await Array.fromAsync(flows.keys())).map((k) => k.sport)
      .sort((x, y) => x - y);
    assert.deepEqual(keys, [1, 2, 3, 40000, 40000]);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "BpfMap gives and takes one value per CPU for per-CPU hashes and arrays",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    using pcpu = openMap<number, bigint[]>(`${maps}/pcpu_hash`);
    const cpus = pcpu.meta.cpus;
    assert.ok(pcpu.meta.perCpu && cpus >= 1);
    assert.equal(pcpu.meta.valueBufSize, 8 * cpus);
    const values = Array.from({ length: cpus }, (_, i) => BigInt(i + 1) * 10n);
    pcpu.set(7, values);
    assert.deepEqual(pcpu.get(7), values);
    const wrong = await rejected(() => pcpu.set(8, 5n as unknown as bigint[]));
    assert.match(wrong.message, /one per possible CPU/);

    using stats = openMap<number, { packets: bigint; bytes: bigint }[]>(
      `${maps}/pcpu_stats`,
    );
    const per = Array.from(
      { length: cpus },
      (_, i) => ({ packets: BigInt(i), bytes: BigInt(i * 100) }),
    );
    stats.set(2, per);
    assert.deepEqual(stats.get(2), per);
    const all = stats.entries().toArray();
    assert.equal(all.length, 16);
    assert.deepEqual(all.find(([k]) => k === 2)?.[1], per);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "BpfMap reads and writes LPM trie keys typed by BTF, and raw as {prefixLen, data}",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    using routes = openMap<{ prefixlen: number; data: number[] }, number>(
      `${maps}/routes`,
    );
    assert.equal(routes.type, "lpm_trie");
    routes.set({ prefixlen: 8, data: [10, 0, 0, 0] }, 1);
    routes.set({ prefixlen: 24, data: [10, 1, 2, 0] }, 2);
    assert.equal(routes.get({ prefixlen: 32, data: [10, 1, 2, 3] }), 2);
    assert.equal(routes.get({ prefixlen: 32, data: [10, 9, 9, 9] }), 1);
    assert.equal(
      routes.get({ prefixlen: 32, data: [192, 168, 0, 1] }),
      undefined,
    );
    const listed = (await Array.fromAsync(routes.entries()))
      .map(([k, v]) => `${k.data.join(".")}/${k.prefixlen}=${v}`).sort();
    assert.deepEqual(listed, ["10.0.0.0/8=1", "10.1.2.0/24=2"]);

    // A trie without BTF: keys as {prefixLen, data}.
    const pin = `${b.path}/rawtrie`;
    await bpftoolMap(
      pin,
      "type lpm_trie key 8 value 4 entries 16 name rawtrie flags 1",
    );
    using raw = openMap<{ prefixLen: number; data: Uint8Array }, Uint8Array>(
      pin,
    );
    raw.set(
      { prefixLen: 16, data: new Uint8Array([172, 16]) },
      new Uint8Array([1, 0, 0, 0]),
    );
    const hit = raw.get({
      prefixLen: 32,
      data: new Uint8Array([172, 16, 5, 5]),
    });
    assert.deepEqual([...hit!], [1, 0, 0, 0]);
    const keys = raw.keys().toArray();
    assert.equal(keys.length, 1);
    assert.equal(keys[0]?.prefixLen, 16);
    assert.deepEqual([...keys[0]!.data], [172, 16, 0, 0]);
    routes.clear();
    assert.equal(routes.keys().toArray().length, 0);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "BpfMap pushes, pops and peeks queues (FIFO) and stacks (LIFO)",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    const u64 = (n: number) => {
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(n), true);
      return bytes;
    };
    const num = (bytes: Uint8Array | undefined) =>
      bytes === undefined ? undefined : Number(
        new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true),
      );
    using jobs = openMap<never, Uint8Array>(`${maps}/jobs`);
    using undo = openMap<never, Uint8Array>(`${maps}/undo`);
    assert.equal(jobs.type, "queue");
    for (const m of [jobs, undo]) {
      assert.equal(m.peek(), undefined);
      assert.equal(m.pop(), undefined);
      for (let i = 1; i <= 16; i++) m.push(u64(i));
      const full = await rejected(() => m.push(u64(17)));
      assert.equal(full.errno, 7);
      assert.match(full.message, /is full \(16 elements\)/);
    }
    assert.equal(num(jobs.peek()), 1);
    assert.equal(num(jobs.pop()), 1);
    assert.equal(num(undo.pop()), 16);
    jobs.push(u64(99), { overwrite: true }); // room again: appended
    assert.equal(undo.clear(), 15);
    assert.equal(jobs.clear(), 16);
    assert.equal(jobs.pop(), undefined);

    // A codec of one's own for a map without BTF.
    const u64codec: Codec<bigint> = {
      size: 8,
      encode(v, out) {
        new DataView(out.buffer, out.byteOffset, 8).setBigUint64(0, v, true);
      },
      decode(bytes) {
        return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(
          0,
          true,
        );
      },
    };
    using typed = openMap<never, bigint>(`${maps}/jobs`, { value: u64codec });
    typed.push(5n);
    typed.push(6n);
    assert.equal(typed.pop(), 5n);
    assert.equal(typed.peek(), 6n);
    const keyed = await rejected(() => jobs.get(1 as never));
    assert.equal(keyed.kind, "wrong-kind");
    assert.match(keyed.message, /it is a queue, whose elements have no keys/);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "BpfMap without BTF (or with raw: true) gives and takes Uint8Array keys and values",
  async () => {
    await using b = await privateBpffs();
    const pin = `${b.path}/plain`;
    await bpftoolMap(pin, "type hash key 4 value 8 entries 64 name plain");
    using plain = openMap<Uint8Array, Uint8Array>(pin);
    assert.equal(plain.btf(), null);
    plain.set(
      new Uint8Array([1, 0, 0, 0]),
      new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]),
    );
    assert.deepEqual([...plain.get(new Uint8Array([1, 0, 0, 0]))!], [
      9,
      8,
      7,
      6,
      5,
      4,
      3,
      2,
    ]);
    plain.set([2, 0, 0, 0] as unknown as Uint8Array, new Uint8Array(8));
    const keys = plain.keys().toArray().map((k) => k[0]).sort();
    assert.deepEqual(keys, [1, 2]);
    // Results own their bytes: the next call does not change them.
    const first = plain.get(new Uint8Array([1, 0, 0, 0]))!;
    plain.set(new Uint8Array([1, 0, 0, 0]), new Uint8Array(8));
    assert.equal(first[0], 9);

    await using m = await privateBpffs();
    const { maps } = loadMaps(m.path);
    using counts = openMap<Uint8Array, Uint8Array>(`${maps}/counts`, {
      raw: true,
    });
    counts.set(
      new Uint8Array([7, 0, 0, 0]),
      new Uint8Array([1, 2, 0, 0, 0, 0, 0, 0]),
    );
    using typed = openMap<number, bigint>(`${maps}/counts`);
    assert.equal(typed.get(7), 0x0201n);
    // A typed map takes raw bytes too.
    assert.equal(typed.get(new Uint8Array([7, 0, 0, 0]) as never), 0x0201n);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "entries(), keys() and values() read 100,000 entries in batches, with for await and for-of; setMany, deleteMany and clear",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    using counts = openMap<number, bigint>(`${maps}/counts`);
    const n = 100_000;
    function* gen(): Generator<[number, bigint]> {
      for (let i = 0; i < n; i++) yield [i, BigInt(i) * 3n];
    }
    assert.equal(counts.setMany(gen()), n);
    let seen = 0;
    let sum = 0n;
    for await (const [k, v] of counts.entries({ chunk: 1000 })) {
      assert.equal(v, BigInt(k) * 3n);
      seen++;
      sum += v;
    }
    assert.equal(seen, n);
    assert.equal(sum, 3n * BigInt((n * (n - 1)) / 2));
    seen = 0;
    for (const [k, v] of counts.entries()) {
      if (v !== BigInt(k) * 3n) assert.fail(`entry ${k}: ${v}`);
      seen++;
    }
    assert.equal(seen, n);
    // An early break ends the pass; the next one starts again.
    for await (const _ of counts) break;
    let chunks = 0;
    for await (const c of counts.chunks({ chunk: 4096 })) {
      assert.ok(c.count <= 4096 && c.keySize === 4 && c.valueSize === 8);
      chunks++;
    }
    assert.ok(chunks >= n / 4096, `${chunks} chunks`);
    assert.equal((await Array.fromAsync(counts.values())).length, n);

    const odd = Array.from({ length: n / 2 }, (_, i) => i * 2 + 1);
    assert.equal(counts.deleteMany([...odd, n + 5]), n / 2); // a missing key is skipped
    assert.equal(counts.get(3), undefined);
    assert.equal(counts.get(4), 12n);
    assert.equal(counts.clear(), n / 2);
    assert.equal(counts.keys().toArray().length, 0);

    // A full map refuses the rest, and says how many went in.
    using small = openMap<number, number>(`${maps}/small`);
    const e = await rejected(() =>
      small.setMany([[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6]])
    );
    assert.equal(e.errno, 7);
    assert.match(
      e.message,
      /the map is full \(4 entries\) \(4 done before it\)/,
    );
    assert.equal(small.keys().toArray().length, 4);

    // Arrays are cleared to zero.
    using slots = openMap<number, bigint>(`${maps}/slots`);
    slots.setMany([[1, 5n], [63, 6n]]);
    assert.equal(slots.clear(), 64);
    assert.deepEqual([...new Set(slots.values())], [0n]);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "openRingBuf() gives the records an iter/task view writes, and close() ends the wait at once",
  async () => {
    await using b = await privateBpffs();
    const { maps, report } = loadMaps(b.path);
    const prog = report.programs.find((p) => p.name === "ringtasks");
    assert.ok(prog);
    const view = `${b.path}/ringtasks_view`;
    createView(prog.path, { pin: view, pid: Deno.pid });
    await using ring = openRingBuf(`${maps}/events`);
    {
      using reader = openView(view);
      assert.equal(await reader.text(), ""); // records go to the ring, not the view
    }
    const records: { pid: number; tgid: number; comm: string }[] = [];
    const reading = (async () => {
      for await (const r of ring) {
        assert.equal(r.length, 24);
        const dv = new DataView(r.buffer, r.byteOffset, r.length);
        records.push({
          pid: dv.getUint32(0, true),
          tgid: dv.getUint32(4, true),
          comm: decoder.decode(r.subarray(8)).replace(/\0.*$/s, ""),
        });
      }
    })();
    await eventually("records for this process", () => records.length > 0);
    assert.ok(
      records.every((r) => r.tgid === Deno.pid),
      JSON.stringify(records),
    );
    assert.ok(records.some((r) => r.pid === Deno.pid));
    const t0 = performance.now();
    ring.close();
    await reading;
    assert.ok(performance.now() - t0 < 500, "close() ended the wait");

    // Through the map, and refused on a map of another type.
    using events = openMap(`${maps}/events`);
    await using again = events.records();
    assert.ok(!again.closed);
    const refused = await rejected(() => openRingBuf(`${maps}/counts`));
    assert.equal(refused.kind, "wrong-kind");
    assert.match(refused.message, /the map is a hash, not a ringbuf/);
  },
  { needs: ["iterator task", "iterator task parameters"] },
);

// ---------------------------------------------------------------------------
// bpftool interop

kernelTest(
  "bpfx reads the entries bpftool wrote: a u32 -> u64 hash, a struct hash and a per-CPU hash",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    await bpftool([
      "map",
      "update",
      "pinned",
      `${maps}/counts`,
      "key",
      "hex",
      ...hexLe(200, 4),
      "value",
      "hex",
      ...hexLe(123456789012n, 8),
    ]);
    const flowKey = [
      ...hexLe(FLOW_KEY.saddr, 4),
      ...hexLe(FLOW_KEY.daddr, 4),
      ...hexLe(FLOW_KEY.sport, 2),
      ...hexLe(FLOW_KEY.dport, 2),
      ...hexLe(FLOW_KEY.proto, 1),
      "00",
      "00",
      "00",
    ];
    const flowValue = [
      ...Array.from(new TextEncoder().encode("wget"), (c) => hexLe(c, 1)[0]!),
      ...Array(12).fill("00"),
      ...hexLe(3, 4), // FLOW_CLOSED
      ...hexLe(77, 4),
      ...hexLe(1 | (2 << 1) | (100 << 4), 4),
      ...hexLe(0, 4), // padding
      ...hexLe(5, 8),
      ...hexLe(600, 8),
      ...hexLe(80, 2),
      ...hexLe(443, 2),
      ...hexLe(0, 2),
      ...hexLe(1, 2),
      ...hexLe(-3 >>> 0, 4),
      ...hexLe(0, 4),
    ];
    await bpftool([
      "map",
      "update",
      "pinned",
      `${maps}/flows`,
      "key",
      "hex",
      ...flowKey,
      "value",
      "hex",
      ...flowValue,
    ]);
    await bpftool([
      "map",
      "update",
      "pinned",
      `${maps}/pcpu_hash`,
      "key",
      "hex",
      ...hexLe(9, 4),
      "value",
      "hex",
      ...hexLe(31, 8),
    ]);

    using counts = openMap<number, bigint>(`${maps}/counts`);
    assert.equal(counts.get(200), 123456789012n);
    using flows = openMap<FlowKey, FlowValue>(`${maps}/flows`);
    assert.deepEqual(flows.get(FLOW_KEY), {
      comm: "wget",
      state: "FLOW_CLOSED",
      pid: 77,
      urgent: 1,
      prio: 2,
      mark: 100,
      stats: { packets: 5n, bytes: 600n },
      ports: [80, 443, 0, 1],
      delta: -3,
    });
    using pcpu = openMap<number, bigint[]>(`${maps}/pcpu_hash`);
    // bpftool gives the one value to every CPU.
    assert.deepEqual(pcpu.get(9), Array(pcpu.meta.cpus).fill(31n));

    // And the CLI's dump says what bpftool's does, formatted included
    // (bpftool writes bitfields as "0x.." strings, bpfx as numbers).
    for (const name of ["counts", "flows", "pcpu_hash"]) {
      const pin = `${maps}/${name}`;
      const theirs = await bpftoolJson<DumpEntry[]>([
        "map",
        "dump",
        "pinned",
        pin,
      ]);
      const ours = await cli(["map", "dump", pin, "--json"]);
      assert.equal(ours.code, 0, ours.err);
      const mine = JSON.parse(ours.out) as DumpEntry[];
      assert.deepEqual(byKey(mine), byKey(theirs), name);
      const formatted = (es: DumpEntry[]) =>
        new Map(es.map((e) => [e.key.join(" "), e.formatted]));
      const ourFormatted = formatted(mine);
      for (const [key, f] of formatted(theirs)) {
        assert.deepEqual(
          ourFormatted.get(key),
          numbersForHex(f),
          `${name} ${key}`,
        );
      }
    }
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "bpftool reads the entries bpfx map set wrote, given in bpftool's own byte forms and as JSON",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    const counts = `${maps}/counts`;
    for (
      const [key, value] of [
        ["hex c8 00 00 00", "hex 01 02 03 04 05 06 07 08"],
        ["201 0 0 0", "1 0 0 0 0 0 0 0"],
        ["0xca 0x00 0x00 0x00", "0xff 0x00 0x00 0x00 0x00 0x00 0x00 0x80"],
        ["203", "18446744073709551615"],
        ['"0xcc"', '"42"'],
      ]
    ) {
      const r = await cli(["map", "set", counts, key!, value!]);
      assert.equal(r.code, 0, `${key} ${value}: ${r.err}`);
    }
    // bpftool's formatted u64s lose precision in JSON.parse: compare bytes.
    const dump = await bpftoolJson<DumpEntry[]>([
      "map",
      "dump",
      "pinned",
      counts,
    ]);
    const got = new Map(dump.map((e) => [e.key.join(" "), e.value]));
    const u64 = (n: bigint) =>
      jsonBytes(hexLe(n, 8).map((h) => parseInt(h, 16)));
    assert.equal(got.size, 5);
    assert.deepEqual(
      got.get(jsonBytes([200, 0, 0, 0]).join(" ")),
      jsonBytes([1, 2, 3, 4, 5, 6, 7, 8]),
    );
    assert.deepEqual(got.get(jsonBytes([201, 0, 0, 0]).join(" ")), u64(1n));
    assert.deepEqual(
      got.get(jsonBytes([202, 0, 0, 0]).join(" ")),
      u64(0x80000000000000ffn),
    );
    assert.deepEqual(
      got.get(jsonBytes([203, 0, 0, 0]).join(" ")),
      u64((1n << 64n) - 1n),
    );
    assert.deepEqual(got.get(jsonBytes([204, 0, 0, 0]).join(" ")), u64(42n));

    // A struct value from JSON, read back by bpftool's BTF dumper.
    const flows = `${maps}/flows`;
    const r = await cli([
      "map",
      "set",
      flows,
      JSON.stringify(FLOW_KEY),
      '{"comm": "nginx", "state": "FLOW_NEW", "pid": "0x10", "stats": {"packets": 18446744073709551615}, "ports": [1, 2, 3, 4], "delta": -1}',
      "--noexist",
    ]);
    assert.equal(r.code, 0, r.err);
    const [flow] = await bpftoolJson<DumpEntry[]>([
      "map",
      "dump",
      "pinned",
      flows,
    ]);
    assert.deepEqual(
      (flow?.value as string[]).slice(32, 40),
      Array(8).fill("0xff"),
      "packets, a u64 beyond 2^53, is exact",
    );
    assert.deepEqual(flow?.formatted, {
      key: { ...FLOW_KEY },
      value: {
        comm: "nginx",
        state: "FLOW_NEW",
        pid: 16,
        urgent: "0x0",
        prio: "0x0",
        mark: "0x0",
        stats: { packets: 18446744073709551615, bytes: 0 },
        ports: [1, 2, 3, 4],
        delta: -1,
      },
    });
    const again = await cli([
      "map",
      "set",
      flows,
      JSON.stringify(FLOW_KEY),
      "{}",
      "--noexist",
    ]);
    assert.equal(again.code, 1);
    assert.match(again.err, /the key exists \(flag "noexist"\)/);

    // Per-CPU: one value for every CPU, or a JSON array of one per CPU.
    const pcpu = `${maps}/pcpu_hash`;
    assert.equal((await cli(["map", "set", pcpu, "1", "7"])).code, 0);
    using m = openMap(pcpu);
    const cpus = m.meta.cpus;
    const each = JSON.stringify(
      Array.from({ length: cpus }, (_, i) => i + 100),
    );
    assert.equal((await cli(["map", "set", pcpu, "2", each])).code, 0);
    const pc = await bpftoolJson<DumpEntry[]>([
      "map",
      "lookup",
      "pinned",
      pcpu,
      "key",
      "2",
      "0",
      "0",
      "0",
    ]);
    assert.deepEqual(
      (pc as unknown as DumpEntry).values?.map((v) => v.value[0]),
      Array.from({ length: cpus }, (_, i) => `0x${(i + 100).toString(16)}`),
    );
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "bpfx map dump --json agrees with bpftool -j map dump on every map of Debian's xdp-tools objects",
  async () => {
    await using b = await privateBpffs();
    const byName = `${b.path}/byname`;
    await Deno.mkdir(byName);
    const loaded: string[] = [];
    const refused: string[] = [];
    for await (const f of Deno.readDir(XDP_DIR)) {
      if (!f.name.endsWith(".o")) continue;
      try {
        load(`${XDP_DIR}/${f.name}`, {
          pinDir: `${b.path}/${f.name.replace(/[.-]/g, "_")}`,
          pinByNameRoot: byName,
        });
        loaded.push(f.name);
      } catch (e) {
        refused.push(`${f.name}: ${(e as Error).message}`);
      }
    }
    // xdpdump_bpf.o's fentry programs name no target function.
    assert.ok(loaded.length >= 10, `loaded ${loaded}; refused ${refused}`);
    // Entries to compare in the per-CPU hashes the filters share.
    await bpftool([
      "map",
      "update",
      "pinned",
      `${byName}/filter_ipv4`,
      "key",
      "10",
      "0",
      "0",
      "1",
      "value",
      "1",
      "0",
      "0",
      "0",
      "0",
      "0",
      "0",
      "0",
    ]);
    await bpftool([
      "map",
      "update",
      "pinned",
      `${byName}/filter_ethernet`,
      "key",
      "hex",
      "02",
      "00",
      "00",
      "00",
      "00",
      "01",
      "value",
      "hex",
      "ff",
      "00",
      "00",
      "00",
      "00",
      "00",
      "00",
      "00",
    ]);
    const pins = await run(BPFX, ["ls", b.path, "--json"]);
    assert.equal(pins.code, 0, pins.stderr);
    const maps = (JSON.parse(pins.stdout) as { path: string; kind: string }[])
      .filter((p) => p.kind === "map").map((p) => p.path);
    assert.ok(maps.length >= 10, `${maps.length} maps`);
    let compared = 0;
    let entries = 0;
    for (const pin of maps) {
      const theirs = await run("bpftool", ["-j", "map", "dump", "pinned", pin]);
      if (theirs.code !== 0) continue; // not something bpftool can dump
      const ours = await cli(["map", "dump", pin, "--json"]);
      assert.equal(ours.code, 0, `${pin}: ${ours.err}`);
      const a = byKey(JSON.parse(theirs.stdout) as DumpEntry[]);
      const o = byKey(JSON.parse(ours.out) as DumpEntry[]);
      assert.equal(o.size, a.size, pin);
      for (const [key, entry] of a) {
        assert.deepEqual(o.get(key), entry, `${pin} ${key}`);
      }
      compared++;
      entries += a.size;
    }
    assert.equal(compared, maps.length, "bpftool dumped every map");
    assert.ok(entries > 65536, `${entries} entries compared`);
  },
  { needs: [] },
);

// ---------------------------------------------------------------------------
// The CLI

kernelTest(
  "bpfx map get, set, delete and dump print tables, and bpftool's JSON shapes with --json",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    const counts = `${maps}/counts`;
    assert.equal((await cli(["map", "set", counts, "42", "7"])).code, 0);
    const get = await cli(["map", "get", counts, "42"]);
    assert.equal(get.out, "key    42\nvalue  7\n");
    const getJson = await cli([
      "map",
      "get",
      counts,
      "hex 2a 00 00 00",
      "--json",
    ]);
    assert.deepEqual(JSON.parse(getJson.out), {
      key: jsonBytes([42, 0, 0, 0]),
      value: jsonBytes([7, 0, 0, 0, 0, 0, 0, 0]),
      formatted: { key: 42, value: 7 },
    });
    const missing = await cli(["map", "get", counts, "43", "--json"]);
    assert.equal(missing.code, 1);
    assert.equal(JSON.parse(missing.out).error.kind, "not-found");

    const table = await cli(["map", "dump", counts]);
    assert.equal(table.out, "KEY  VALUE\n42   7\n");
    assert.equal(table.err, "1 entry\n");

    const empty = await cli(["map", "dump", `${maps}/recent`, "--json"]);
    assert.deepEqual(JSON.parse(empty.out), []);

    const del = await cli(["map", "delete", counts, "42", "--json"]);
    assert.deepEqual(JSON.parse(del.out), {
      key: jsonBytes([42, 0, 0, 0]),
      formatted: { key: 42 },
    });
    const gone = await cli(["map", "delete", counts, "42"]);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /no such key/);

    // Per-CPU, as bpftool prints it.
    await cli(["map", "set", `${maps}/pcpu_hash`, "3", "5"]);
    const pc = JSON.parse(
      (await cli(["map", "dump", `${maps}/pcpu_hash`, "--json"])).out,
    );
    using m = openMap(`${maps}/pcpu_hash`);
    const cpus = Array.from({ length: m.meta.cpus }, (_, cpu) => cpu);
    assert.deepEqual(pc, [{
      key: jsonBytes([3, 0, 0, 0]),
      values: cpus.map((cpu) => ({
        cpu,
        value: jsonBytes([5, 0, 0, 0, 0, 0, 0, 0]),
      })),
      formatted: { key: 3, values: cpus.map((cpu) => ({ cpu, value: 5 })) },
    }]);

    // Through the launcher too: a whole process, streaming 100,000 entries.
    using big = openMap<number, bigint>(counts);
    big.setMany(Array.from({ length: 100_000 }, (_, i) => [i, BigInt(i)]));
    const whole = await run(BPFX, ["map", "dump", counts, "--json"]);
    assert.equal(whole.code, 0, whole.stderr);
    const all = JSON.parse(whole.stdout) as DumpEntry[];
    assert.equal(all.length, 100_000);
    assert.ok(
      all.every((e) =>
        (e.formatted as { key: number; value: number }).key ===
          (e.formatted as { key: number; value: number }).value
      ),
    );
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "bpfx map watch prints a ring buffer's records as JSON lines until stopped",
  async () => {
    await using b = await privateBpffs();
    const { maps, report } = loadMaps(b.path);
    const view = `${b.path}/rv`;
    createView(report.programs[0]!.path, { pin: view, pid: Deno.pid });
    const abort = new AbortController();
    const io = captureIo();
    const running = main(["map", "watch", `${maps}/events`, "--json"], {
      io,
      signal: abort.signal,
    });
    const lines = () =>
      decoder.decode(io.stdout()).split("\n").filter((l) => l !== "")
        .map((l) => JSON.parse(l) as { size: number; data: string });
    try {
      await eventually("records printed", async () => {
        using r = openView(view);
        await r.text();
        return lines().length > 0;
      });
    } finally {
      abort.abort();
      assert.equal(await running, 0, io.stderr());
    }
    const first = lines()[0]!;
    assert.equal(first.size, 24);
    assert.match(first.data, /^[0-9a-f]{48}$/);
    const tgid = parseInt(
      first.data.slice(8, 16).match(/../g)!.reverse().join(""),
      16,
    );
    assert.equal(tgid, Deno.pid);
  },
  { needs: ["iterator task", "iterator task parameters"] },
);

// ---------------------------------------------------------------------------
// Bad input

kernelTest(
  "a key of the wrong size, a value that does not match the BTF, and a full map are refused clearly",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    using counts = openMap<number, bigint>(`${maps}/counts`);
    const size = await rejected(() => counts.get(new Uint8Array(3) as never));
    assert.equal(size.kind, "invalid");
    assert.equal(size.op, "BPF_MAP_LOOKUP_ELEM");
    assert.equal(size.errno, 22);
    assert.equal(size.path, `${maps}/counts`);
    assert.equal(
      size.message,
      'Cannot use key hex 00 00 00 of 3 bytes with map "counts": its keys are 4 bytes',
    );
    const cliSize = await cli(["map", "get", `${maps}/counts`, "hex 01 00"]);
    assert.equal(cliSize.code, 1);
    assert.match(cliSize.err, /it is 2 bytes, the map's keys are 4 bytes/);
    const valueSize = await rejected(() =>
      counts.set(1, new Uint8Array(4) as never)
    );
    assert.match(valueSize.message, /its values are 8 bytes/);

    const cases: [unknown, string][] = [
      [{ pid: "x" }, 'field "pid": expected a number (u32), got "x"'],
      [
        { pid: -1 },
        'field "pid": expected an integer from 0 to 4294967295 (u32), got -1',
      ],
      [
        { stats: { packets: "1" } },
        'field "stats.packets": expected a bigint or a safe integer (u64), got "1"',
      ],
      [
        { ports: [1, 2] },
        'field "ports": expected an array of 4 (u16[4]), got [1,2]',
      ],
      [
        { ports: [1, 2, 3, 70000] },
        'field "ports[3]": expected an integer from 0 to 65535 (u16), got 70000',
      ],
      [
        { comm: "a name far longer than sixteen bytes" },
        'field "comm": expected a string of at most 16 bytes (char[16])',
      ],
      [
        { state: "FLOW_OPEN" },
        'field "state": expected one of "FLOW_NEW", "FLOW_ESTABLISHED", "FLOW_CLOSING", "FLOW_CLOSED" or a number (enum flow_state), got "FLOW_OPEN"',
      ],
      [
        { prio: 8 },
        'field "prio": expected an integer from 0 to 7 (u3:3), got 8',
      ],
      [
        { pdi: 1 },
        'expected a field of struct flow_value ("comm", "state", "pid",',
      ],
      [42, "expected an object (struct flow_value), got 42"],
    ];
    using flows = openMap(`${maps}/flows`);
    for (const [value, expected] of cases) {
      const e = await rejected(() => flows.set(FLOW_KEY, value));
      assert.equal(e.kind, "invalid", expected);
      assert.ok(
        e.message.startsWith(`Cannot encode value of map "flows": ${expected}`),
        `${e.message}\n  does not start with\n${expected}`,
      );
    }
    const keyErr = await rejected(() => flows.get({ ...FLOW_KEY, proto: 256 }));
    assert.equal(
      keyErr.message,
      'Cannot encode key of map "flows": field "proto": expected an integer from 0 to 255 (u8), got 256',
    );
    const cliValue = await cli([
      "map",
      "set",
      `${maps}/flows`,
      JSON.stringify(FLOW_KEY),
      '{"pid": "x"}',
    ]);
    assert.equal(cliValue.code, 1);
    assert.match(
      cliValue.err,
      /field "pid": expected a number \(u32\), got "x"/,
    );
    const cliBytes = await cli(["map", "set", `${maps}/counts`, "1", "hex zz"]);
    assert.equal(cliBytes.code, 1);
    assert.match(cliBytes.err, /Cannot read VALUE "hex zz"/);

    // E2BIG on a small hash: "the map is full".
    using small = openMap<number, number>(`${maps}/small`);
    for (let i = 0; i < 4; i++) small.set(i, i);
    const full = await rejected(() => small.set(4, 4));
    assert.equal(full.kind, "invalid");
    assert.equal(full.errno, 7);
    assert.equal(full.op, "BPF_MAP_UPDATE_ELEM");
    assert.equal(
      full.message,
      'Cannot set key 4 in map "small": the map is full (4 entries)',
    );
    small.set(3, 33); // replacing still works
    const cliFull = await cli(["map", "set", `${maps}/small`, "9", "9"]);
    assert.equal(cliFull.code, 1);
    assert.match(cliFull.err, /the map is full/);

    // A closed map says so.
    small.close();
    const closed = await rejected(() => small.get(1));
    assert.match(closed.message, /its handle is closed/);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "a pin that is not a map, and a ring buffer opened as a hash, are refused clearly",
  async () => {
    await using b = await privateBpffs();
    const { maps, report } = loadMaps(b.path);
    const prog = report.programs[0]!.path;
    const notMap = await rejected(() => openMap(prog));
    assert.equal(notMap.kind, "wrong-kind");
    const cliProg = await cli(["map", "dump", prog, "--json"]);
    assert.equal(cliProg.code, 1);
    assert.equal(JSON.parse(cliProg.out).error.kind, "wrong-kind");
    const gone = await rejected(() => openMap(`${b.path}/nothing`));
    assert.ok(gone instanceof Deno.errors.NotFound);

    const events = `${maps}/events`;
    const asHash = await rejected(() => openMap(events, { type: "hash" }));
    assert.equal(asHash.kind, "wrong-kind");
    assert.equal(
      asHash.message,
      `Cannot open "${events}" as a hash map: it is a ringbuf`,
    );
    using ring = openMap(events);
    for (
      const op of [
        () => ring.get(1),
        () => ring.set(1, 1),
        () => ring.entries().toArray(),
        () => ring.push(1),
      ]
    ) {
      const e = await rejected(op);
      assert.equal(e.kind, "wrong-kind");
      assert.match(e.message, /it is a ringbuf/);
    }
    const dump = await cli(["map", "dump", events]);
    assert.equal(dump.code, 1);
    assert.match(
      dump.err,
      /it is a ringbuf: read its records with `bpfx map watch/,
    );
    const watchHash = await cli(["map", "watch", `${maps}/counts`]);
    assert.equal(watchHash.code, 1);
    assert.match(watchHash.err, /the map is a hash, not a ringbuf/);

    // A queue's get() likewise.
    using jobs = openMap(`${maps}/jobs`);
    const q = await rejected(() => jobs.get(0));
    assert.equal(q.kind, "wrong-kind");
    // A codec of the wrong size is refused at open.
    const codec = await rejected(() =>
      openMap(`${maps}/counts`, {
        key: { size: 2, encode() {}, decode: () => 0 },
      })
    );
    assert.match(codec.message, /key codec of 2 bytes .* its keys are 4 bytes/);
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "bpfx map push, pop and peek work queues and stacks, and every message shows a key one way",
  async () => {
    await using b = await privateBpffs();
    const { maps } = loadMaps(b.path);
    const jobs = `${maps}/jobs`; // a queue of u64
    const BYTES = (n: number) => hexLe(n, 8).join(" ");
    const undo = `${maps}/undo`; // a stack of u64
    for (const v of ["1", "2", "3"]) {
      assert.equal((await cli(["map", "push", jobs, v])).code, 0);
      assert.equal((await cli(["map", "push", undo, v])).code, 0);
    }
    const pushed = await cli(["map", "push", jobs, "4", "-j"]);
    // Queue and stack maps carry no BTF in the kernel: bytes, as bpftool.
    assert.deepEqual(JSON.parse(pushed.out), {
      value: jsonBytes([4, 0, 0, 0, 0, 0, 0, 0]),
    });
    // peek leaves the value, pop takes it: a queue is first in, first out.
    assert.equal(
      (await cli(["map", "peek", jobs])).out,
      `value  ${BYTES(1)}\n`,
    );
    assert.equal((await cli(["map", "pop", jobs])).out, `value  ${BYTES(1)}\n`);
    assert.equal((await cli(["map", "pop", jobs])).out, `value  ${BYTES(2)}\n`);
    // A stack is last in, first out; --pretty indents.
    const top = await cli(["map", "pop", undo, "--pretty"]);
    assert.equal(
      top.out,
      JSON.stringify(
        { value: jsonBytes([3, 0, 0, 0, 0, 0, 0, 0]) },
        null,
        2,
      ) + "\n",
    );
    // The API agrees with what the CLI left.
    using q = openMap<never, Uint8Array>(jobs);
    assert.deepEqual(q.pop(), new Uint8Array([3, 0, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual(q.pop(), new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0]));
    const empty = await cli(["map", "pop", jobs]);
    assert.equal(empty.code, 1);
    assert.equal(
      empty.err,
      `error: Cannot pop from map "jobs": it is empty\n`,
    );
    // Keyed commands on a queue are refused, naming what to use.
    const keyed = await cli(["map", "get", jobs, "1"]);
    assert.equal(keyed.code, 1);
    assert.match(
      keyed.err,
      /whose elements have no keys: use `bpfx map push\|pop\|peek`/,
    );

    // A missing key reads the same in the CLI's message and the API's,
    // whether it was written as JSON or as bytes.
    const counts = `${maps}/counts`;
    const asJson = await cli(["map", "get", counts, "43"]);
    const asBytes = await cli(["map", "get", counts, "hex 2b 00 00 00"]);
    assert.equal(asJson.code, 1);
    assert.equal(asJson.err, asBytes.err);
    assert.match(asJson.err, /^error: Cannot look up key 43 in map "counts"/);
    const del = await cli(["map", "delete", counts, "hex 2b 00 00 00"]);
    assert.equal(del.code, 1);
    assert.match(del.err, /key 43 /);
  },
  { needs: ["iterator task"] },
);
