// What resolving externs costs, in process: inspect() of objects with and
// without them (inspect() parses the object and resolves each extern
// against the running kernel, as load() does before loading).
import { inspect } from "../mod.ts";

const runs = Number(Deno.args[0] ?? 20);
const objects: [string, string][] = [
  ["hello.bpf.o", "no externs"],
  ["cgtasks.bpf.o", "5 kfuncs"],
  ["kconfig.bpf.o", "7 kconfig values (/proc/config.gz)"],
  ["taskrq.bpf.o", "kfuncs, ksyms (reads /proc/kallsyms)"],
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

console.log(`${"inspect() of".padEnd(58)} ${"median ms".padStart(9)}`);
for (const [file, what] of objects) {
  const path = new URL(`../build/examples/${file}`, import.meta.url).pathname;
  inspect(path); // warm-up: the kernel's BTF is read once per process
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    inspect(path);
    t.push(performance.now() - t0);
  }
  console.log(
    `${`${file} (${what})`.padEnd(58)} ${median(t).toFixed(2).padStart(9)}`,
  );
}
