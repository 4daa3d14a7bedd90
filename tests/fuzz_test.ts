// Untrusted objects: a bounded mutation fuzz of the object parser through the
// real core (every mutation inspected in a child process, so that an abort
// would show), and the files that are not objects at all: a FIFO, a device,
// a directory, one over the size limit, and an object of 3,000 programs.
import { assert, HELLO, ROOT, run, XDP_DIR } from "./_kernel.ts";

const DENO = `${ROOT}/node_modules/.bin/deno`;

/** The seeds: objects of the project's own and a third party's. */
const SEEDS = [
  HELLO,
  `${ROOT}/build/examples/maps.bpf.o`,
  `${ROOT}/build/tests/sections.bpf.o`,
  `${XDP_DIR}/xdp-dispatcher.o`,
];

/** What the child does: mutate each seed N times and inspect each result. */
const CHILD = `
import { inspect, isBpfError } from "${ROOT}/mod.ts";
const [dir, rounds, ...seeds] = Deno.args;
let x = 0x9e3779b9 >>> 0;
const rnd = () => {
  x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
  return x;
};
const kinds = {};
const internal = [];
for (const seed of seeds) {
  const base = Deno.readFileSync(seed);
  const shoff = Number(new DataView(base.buffer).getBigUint64(0x28, true));
  for (let i = 0; i < Number(rounds); i++) {
    const m = base.slice();
    const flips = 1 + (rnd() % 8);
    for (let f = 0; f < flips; f++) {
      const zone = rnd() % 3;
      const at = zone === 0
        ? rnd() % 64
        : zone === 1
        ? Math.min(m.length - 1, shoff + (rnd() % Math.max(1, m.length - shoff)))
        : rnd() % m.length;
      const mode = rnd() % 3;
      m[at] = mode === 0 ? rnd() & 0xff : mode === 1 ? m[at] ^ (1 << (rnd() % 8)) : 0xff;
    }
    const p = dir + "/m.o";
    Deno.writeFileSync(p, rnd() % 10 === 0 ? m.subarray(0, rnd() % m.length) : m);
    try {
      inspect(p);
      kinds.ok = (kinds.ok ?? 0) + 1;
    } catch (e) {
      if (!isBpfError(e)) throw e;
      kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
      if (e.kind === "internal") internal.push(e.message);
    }
  }
}
console.log(JSON.stringify({ kinds, internal: [...new Set(internal)] }));
`;

Deno.test("a bounded mutation fuzz of objects: every result is a bpfx error or a spec, and nothing is printed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfxfuzz-" });
  try {
    await Deno.writeTextFile(`${dir}/child.ts`, CHILD);
    const r = await run(
      DENO,
      ["run", "-A", "--no-check", `${dir}/child.ts`, dir, "500", ...SEEDS],
      { env: { RUST_BACKTRACE: "1" } },
    );
    // No abort (an allocation failure cannot be caught), no panic message,
    // no backtrace: the core stays quiet whatever the input.
    assert.equal(r.code, 0, `the fuzz child died:\n${r.stderr}`);
    assert.equal(r.stderr, "", "nothing on stderr");
    const { kinds, internal } = JSON.parse(r.stdout) as {
      kinds: Record<string, number>;
      internal: string[];
    };
    const total = Object.values(kinds).reduce((a, b) => a + b, 0);
    assert.equal(total, 500 * SEEDS.length);
    // Some mutations still parse, most are refused as not an object.
    assert.ok(
      (kinds.ok ?? 0) > 0 && (kinds.elf ?? 0) > 0,
      JSON.stringify(kinds),
    );
    // Inputs known to reach a panic in the parsers are refused before them.
    assert.deepEqual(internal, [], "internal errors (caught panics)");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inspect and load refuse a FIFO, /dev/zero, a directory and an object over the limit, at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfxbad-" });
  try {
    const fifo = `${dir}/fifo.o`;
    const mk = await run("mkfifo", [fifo]);
    assert.equal(mk.code, 0, mk.stderr);
    const cases: [string, string][] = [
      [fifo, "it is a FIFO, not a regular file"],
      ["/dev/zero", "it is a character device, not a regular file"],
      [dir, "it is a directory, not a regular file"],
    ];
    for (const [path, why] of cases) {
      for (
        const args of [["inspect", path], ["load", path, "--pin", `${dir}/p`]]
      ) {
        const r = await run(`${ROOT}/bpfx`, args, {
          signal: AbortSignal.timeout(10_000),
        });
        assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(
          r.stderr.split("\n")[0],
          `error: Cannot read BPF object "${path}": ${why}`,
        );
      }
    }
    const size = (await Deno.stat(HELLO)).size;
    const over = await run(`${ROOT}/bpfx`, [
      "inspect",
      HELLO,
      "--max-object-size",
      String(size - 1),
    ]);
    assert.equal(over.code, 1, over.stderr);
    assert.match(
      over.stderr,
      new RegExp(
        `it is ${size} bytes, over the limit of ${
          size - 1
        } bytes\\n {2}hint: raise the limit with --max-object-size`,
      ),
    );
    const at = await run(`${ROOT}/bpfx`, [
      "inspect",
      HELLO,
      "--max-object-size",
      String(size),
      "--json",
    ]);
    assert.equal(at.code, 0, at.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inspect of an object with 3,000 programs takes time and memory in proportion", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfxbig-" });
  try {
    const lines = [
      '#include "vmlinux.h"',
      "#include <bpf/bpf_helpers.h>",
      'char LICENSE[] SEC("license") = "GPL";',
    ];
    for (let i = 0; i < 3000; i++) {
      lines.push(
        `SEC("kprobe/do_unlinkat") int p${i}(void *ctx) { return ${i}; }`,
      );
    }
    await Deno.writeTextFile(`${dir}/big.bpf.c`, lines.join("\n") + "\n");
    const cc = await run("clang", [
      "-g",
      "-O2",
      "-target",
      "bpf",
      "-D__TARGET_ARCH_x86",
      "-I",
      `${ROOT}/build`,
      "-c",
      `${dir}/big.bpf.c`,
      "-o",
      `${dir}/big.bpf.o`,
    ]);
    assert.equal(cc.code, 0, cc.stderr);
    // Peak memory of the whole process, for a small object and the big one.
    const rss = async (obj: string) => {
      const r = await run("/usr/bin/time", [
        "-f",
        "%M %e",
        `${ROOT}/bpfx`,
        "inspect",
        obj,
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const [kb, secs] = r.stderr.trim().split("\n").at(-1)!.split(" ");
      return { kb: Number(kb), secs: Number(secs), out: r.stdout };
    };
    const small = await rss(HELLO);
    const big = await rss(`${dir}/big.bpf.o`);
    assert.equal(JSON.parse(big.out).programs.length, 3000);
    // Before, aya-obj's per-section copies of .BTF.ext made this about 220
    // MB more than the small one, in 2.5 s; now it is the file's size
    // (1 MB) several times over.
    assert.ok(
      big.kb - small.kb < 40 * 1024,
      `3,000 programs took ${big.kb - small.kb} KiB more than hello`,
    );
    assert.ok(big.secs < 2, `3,000 programs took ${big.secs} s`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
