// Reads a view through the API (openView + read into one reused buffer),
// beside the same read in C (bench/readview.c), in one run. The two
// alternate in rounds so that noise on the machine hits both alike.
import { openView } from "../mod.ts";

const [path, runsArg, cBin] = Deno.args;
if (!path || !cBin) {
  throw new Error("usage: view_read.ts PATH RUNS READVIEW_BIN");
}
const runs = Number(runsArg ?? 50);
const rounds = 5;
const buf = new Uint8Array(Number(Deno.env.get("BUF") ?? 1 << 20));

async function once(): Promise<[number, number]> {
  const t0 = performance.now();
  using r = openView(path!);
  let bytes = 0;
  for (;;) {
    const n = await r.read(buf);
    if (n === null) break;
    bytes += n;
  }
  return [(performance.now() - t0) * 1000, bytes];
}

const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const api: number[] = [];
const c: number[] = [];
let apiBytes = 0;
let cBytes = 0;
for (let i = 0; i < 3; i++) await once(); // warm up
for (let round = 0; round < rounds; round++) {
  const per = Math.ceil(runs / rounds);
  for (let i = 0; i < per; i++) {
    const [us, bytes] = await once();
    api.push(us);
    apiBytes = bytes;
  }
  const out = await new Deno.Command(cBin, { args: [path, String(per)] })
    .output();
  const [us, bytes] = new TextDecoder().decode(out.stdout).trim().split(" ")
    .map(Number) as [number, number];
  c.push(us);
  cBytes = bytes;
}
const a = median(api);
const b = median(c);
console.log(
  `${"read of the whole view".padEnd(30)} ${"median µs".padStart(10)} ${
    "bytes".padStart(9)
  }   vs C`,
);
console.log(
  `${"openView().read() (API)".padEnd(30)} ${a.toFixed(1).padStart(10)} ${
    String(apiBytes).padStart(9)
  }   ${(a / b).toFixed(2)}x`,
);
console.log(
  `${"read(2) loop in C".padEnd(30)} ${b.toFixed(1).padStart(10)} ${
    String(cBytes).padStart(9)
  }   1.00x`,
);
console.log(`(buffer ${buf.length} bytes; ${rounds} alternating rounds)`);
