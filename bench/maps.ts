// Map operations through mod.ts beside the same operations in C (libbpf,
// bench/maps_c.c) on the same pinned map, in one run: get and set per
// operation with raw keys and with BTF-typed keys and values, and a pass
// over every entry (entries() against C's batch lookup). The peers alternate
// in rounds so that noise on the machine hits both alike; each figure is
// the median of the rounds.
//
// Usage: deno run -A bench/maps.ts PIN MAPS_C_BIN [N]
//   PIN   a u32 -> u64 hash with BTF and room for N entries (the `counts`
//         map of examples/maps.bpf.c); it is filled here with setMany and
//         left filled
//   N     operations per measurement and entries in the map (1,000,000)
import { openMap } from "../mod.ts";

const [pin, cBin, nArg] = Deno.args;
if (!pin || !cBin) {
  console.error("usage: maps.ts PIN MAPS_C_BIN [N]");
  Deno.exit(2);
}
const N = Number(nArg ?? 1_000_000);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 5);

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function c(args: string[]): string {
  const out = new Deno.Command(cBin!, { args: [pin!, ...args] }).outputSync();
  if (!out.success) {
    throw new Error(
      `${cBin} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}

using typed = openMap<number, bigint>(pin);
using raw = openMap<Uint8Array, Uint8Array>(pin, { raw: true });
if (typed.type !== "hash" || typed.btf() === null) {
  throw new Error(`${pin} is not a hash map with BTF`);
}
if (typed.meta.maxEntries < N) {
  throw new Error(
    `${pin} has room for ${typed.meta.maxEntries} entries, not ${N}`,
  );
}

// Fill the map: N entries in batches of 16384 (BPF_MAP_UPDATE_BATCH).
typed.clear();
const t0 = performance.now();
function* fill(): Generator<[number, bigint]> {
  for (let i = 0; i < N; i++) yield [i, BigInt(i)];
}
const filled = typed.setMany(fill());
const fillMs = performance.now() - t0;

const key = new Uint8Array(4);
const keyDv = new DataView(key.buffer);
const value = new Uint8Array(8);

function rawGet(): number {
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    keyDv.setUint32(0, i, true);
    raw.getInto(key, value);
  }
  return ((performance.now() - t) * 1e6) / N;
}

function rawSet(): number {
  value.fill(0);
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    keyDv.setUint32(0, i, true);
    raw.set(key, value);
  }
  return ((performance.now() - t) * 1e6) / N;
}

function typedGet(): number {
  let sum = 0n;
  const t = performance.now();
  for (let i = 0; i < N; i++) sum += typed.get(i) ?? 0n;
  const ns = ((performance.now() - t) * 1e6) / N;
  if (sum < 0n) throw new Error("unreachable");
  return ns;
}

function typedSet(): number {
  const t = performance.now();
  for (let i = 0; i < N; i++) typed.set(i, 0n);
  return ((performance.now() - t) * 1e6) / N;
}

async function entriesAsync(): Promise<number> {
  let n = 0;
  const t = performance.now();
  for await (const [k, v] of typed.entries()) {
    if (k < 0 || v < 0n) throw new Error("unreachable");
    n++;
  }
  const ms = performance.now() - t;
  if (n !== N) throw new Error(`entries() gave ${n} entries, not ${N}`);
  return ms;
}

function entriesSync(): number {
  let n = 0;
  const t = performance.now();
  for (const [k, v] of typed.entries()) {
    if (k < 0 || v < 0n) throw new Error("unreachable");
    n++;
  }
  const ms = performance.now() - t;
  if (n !== N) throw new Error(`entries() gave ${n} entries, not ${N}`);
  return ms;
}

function cDump(): number {
  const [entries, perSecond] = c(["dump"]).split(" ").map(Number) as [
    number,
    number,
  ];
  if (entries !== N) throw new Error(`maps_c dump saw ${entries} entries`);
  return (entries / perSecond) * 1000;
}

const r: Record<string, number[]> = {};
const add = (name: string, v: number) => (r[name] ??= []).push(v);

// One round to warm up (JIT, caches), then ROUNDS measured ones.
for (let round = 0; round <= ROUNDS; round++) {
  const keep = round > 0;
  const results: [string, number][] = [
    ["c get", Number(c(["get", String(N)]))],
    ["raw get", rawGet()],
    ["typed get", typedGet()],
    ["c set", Number(c(["set", String(N)]))],
    ["raw set", rawSet()],
    ["typed set", typedSet()],
    ["c dump", cDump()],
    ["entries await", await entriesAsync()],
    ["entries for-of", entriesSync()],
  ];
  if (keep) { for (const [name, v] of results) add(name, v); }
}

const m = (name: string) => median(r[name]!);
const shown = (v: number) => v >= 100 ? v.toFixed(0) : v.toFixed(1);
/** [label, unit, bpfx's figure, C's figure, target ratio] */
const rows: [string, string, string, string, number][] = [
  ["get, raw key (getInto)", "ns/op", "raw get", "c get", 1.1],
  ["set, raw key and value", "ns/op", "raw set", "c set", 1.1],
  ["get, BTF-typed (number -> bigint)", "ns/op", "typed get", "c get", 1.5],
  ["set, BTF-typed", "ns/op", "typed set", "c set", 1.5],
  ["entries(), for await, typed", "ms", "entries await", "c dump", 1.2],
  ["entries(), for-of, typed", "ms", "entries for-of", "c dump", 1.2],
];
console.log(
  `(${N} entries filled by setMany in ${
    fillMs.toFixed(0)
  } ms (${filled} set); medians of ${ROUNDS} rounds)`,
);
console.log(
  `${"operation".padEnd(34)} ${"unit".padEnd(5)} ${"bpfx".padStart(7)} ${
    "C".padStart(7)
  } ${"ratio".padStart(6)}  target`,
);
for (const [label, unit, ours, peer, target] of rows) {
  const ratio = m(ours) / m(peer);
  console.log(
    `${label.padEnd(34)} ${unit.padEnd(5)} ${shown(m(ours)).padStart(7)} ${
      shown(m(peer)).padStart(7)
    } ${ratio.toFixed(2).padStart(5)}x  <= ${target.toFixed(2)}x ${
      ratio <= target ? "ok" : "MISSED"
    }`,
  );
}
