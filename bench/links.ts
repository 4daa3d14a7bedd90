// Attach + pin of a probe link (kprobe on do_unlinkat, or where the kernel
// has no kprobes, a uprobe on the test binary; both are perf event links):
// bpfx's attachLink() in process, `bpfx attach --to` as a whole process,
// and the libbpf C floor (build/bench/links_c), in the same run.
import { attachLink, load, unpin } from "../mod.ts";

const [root, runsArg] = Deno.args;
if (!root) throw new Error("usage: links.ts BPFFS [RUNS]");
const runs = Number(runsArg ?? 20);
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

load(`${ROOT}/build/tests/links.bpf.o`, { pinDir: `${root}/links` });
const kprobes = await Deno.stat("/sys/bus/event_source/devices/kprobe/type")
  .then(() => true, () => false);
const prog = `${root}/links/${kprobes ? "kprobe_count" : "uprobe_count"}`;
const binary = `${ROOT}/build/tests/link_target`;
const to = kprobes ? "do_unlinkat" : `${binary}:bpfx_probed`;
const pin = `${root}/probe`;

const api: number[] = [];
const proc: number[] = [];
let offset = 0;
// Each way in a loop of its own, so that one's teardown (the kernel frees
// an unpinned link lazily) and process exits do not land in the other's.
for (let i = 0; i < runs + 2; i++) {
  const t0 = performance.now();
  const link = attachLink(prog, { to, pin });
  const ms = performance.now() - t0;
  offset = Number(link.target.offset ?? 0);
  unpin(pin);
  if (i >= 2) api.push(ms); // the first two are warm-up
}
for (let i = 0; i < runs + 2; i++) {
  const t0 = performance.now();
  const out = await new Deno.Command(`${ROOT}/bpfx`, {
    args: ["attach", prog, "--to", to, "--pin", pin, "--json"],
    stdout: "null",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) throw new Error("bpfx attach failed");
  unpin(pin);
  if (i >= 2) proc.push(ms);
}
const c = await new Deno.Command(`${ROOT}/build/bench/links_c`, {
  args: kprobes
    ? [prog, "kprobe", "do_unlinkat", pin, String(runs)]
    : [prog, "uprobe", binary, `0x${offset.toString(16)}`, pin, String(runs)],
}).output();
if (!c.success) throw new Error(new TextDecoder().decode(c.stderr));
const floor = Number(new TextDecoder().decode(c.stdout).trim()) / 1000;
unpin(`${root}/links`, { recursive: true });

const kind = kprobes ? "kprobe" : "uprobe (this kernel has no kprobes)";
console.log(`attach + pin of a ${kind} link, median of ${runs}`);
console.log(`${"".padEnd(40)} ${"ms".padStart(8)}   vs libbpf C`);
const row = (name: string, ms: number) =>
  console.log(
    `${name.padEnd(40)} ${ms.toFixed(3).padStart(8)}   ${
      (ms / floor).toFixed(2)
    }x`,
  );
row("bpfx attachLink() (API, in process)", median(api));
row("bpfx attach --to (whole process)", median(proc));
row("libbpf C (bpf_link_create + pin)", floor);
