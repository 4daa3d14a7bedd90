// The cost of one FFI call into the core, beside a bare Deno.dlopen call of
// libc abs() in the same process.
import { core } from "../src/ffi.ts";

const N = 2_000_000;
const libc = Deno.dlopen("libc.so.6", {
  abs: { parameters: ["i32"], result: "i32" },
});
const bpfx = core();

function perCall(f: () => unknown, n: number): number {
  for (let i = 0; i < 10_000; i++) f(); // warm up into the fast path
  const t0 = performance.now();
  for (let i = 0; i < n; i++) f();
  return ((performance.now() - t0) * 1e6) / n; // ns
}

const rows: [string, number][] = [];
for (let round = 0; round < 3; round++) {
  rows.push([
    "libc abs() (bare dlopen)",
    perCall(() => libc.symbols.abs(-7), N),
  ]);
  rows.push([
    "bpfx_open_handles()",
    perCall(() => bpfx.bpfx_open_handles(), N),
  ]);
  rows.push(["bpfx_abi_version()", perCall(() => bpfx.bpfx_abi_version(), N)]);
}
// The control lane: one JSON round trip.
const { version } = await import("../src/version.ts");
rows.push([
  "version() (control lane, JSON)",
  perCall(() => version(), 100_000),
]);

const best = new Map<string, number>();
for (const [k, v] of rows) best.set(k, Math.min(best.get(k) ?? Infinity, v));
const base = best.get("libc abs() (bare dlopen)")!;
console.log(`${"call".padEnd(34)} ${"ns/call".padStart(8)}   vs bare dlopen`);
for (const [k, v] of best) {
  console.log(
    `${k.padEnd(34)} ${v.toFixed(1).padStart(8)}   ${(v / base).toFixed(2)}x`,
  );
}
libc.close();
