// Load and pin through the API in one process (no Deno start-up), beside
// bpftool prog loadall as a whole process, in the same run.
import { load, unpin } from "../mod.ts";

const [obj, root, runsArg] = Deno.args;
if (!obj || !root) throw new Error("usage: load_inprocess.ts OBJ BPFFS [RUNS]");
const runs = Number(runsArg ?? 20);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const api: number[] = [];
const tool: number[] = [];
for (let i = 0; i < runs + 2; i++) {
  const dir = `${root}/inproc${i}`;
  await Deno.remove(`${root}/hello_total`).catch(() => {});
  let t0 = performance.now();
  load(obj, { pinDir: dir, pinByNameRoot: root });
  const a = performance.now() - t0;
  unpin(dir, { recursive: true });

  t0 = performance.now();
  const out = await new Deno.Command("bpftool", {
    args: ["prog", "loadall", obj, `${root}/tool${i}`],
    stderr: "null",
  }).output();
  const b = performance.now() - t0;
  if (!out.success) throw new Error("bpftool prog loadall failed");
  await Deno.remove(`${root}/tool${i}`, { recursive: true });
  await Deno.remove(`${root}/hello_total`).catch(() => {});
  if (i >= 2) { // the first two are warm-up
    api.push(a);
    tool.push(b);
  }
}
const ma = median(api);
const mt = median(tool);
console.log(
  `${"load and pin".padEnd(34)} ${"median ms".padStart(9)}   vs bpftool`,
);
console.log(
  `${"bpfx load() (API, in process)".padEnd(34)} ${
    ma.toFixed(2).padStart(9)
  }   ${(ma / mt).toFixed(2)}x`,
);
console.log(
  `${"bpftool prog loadall (process)".padEnd(34)} ${
    mt.toFixed(2).padStart(9)
  }   1.00x`,
);
