// A desired state's configuration maps checked against their BTF at plan
// time, against the real kernel: an object entry's map by the object
// file's own BTF (nothing loaded), and a pinned map by the map's; a key or
// value that does not fit is refused with the file, line, column and
// entry, and nothing changes; entries that fit plan and apply. Each test has
// its own bpffs and state directory, removed in finally.
import { main } from "../cli.ts";
import { load, unpin } from "../mod.ts";
import {
  assert,
  captureIo,
  exists,
  kernelTest,
  privateBpffs,
  ROOT,
  tempDir,
  tree,
} from "./_kernel.ts";

const MAPS = `${ROOT}/build/examples/maps.bpf.o`;

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  const io = captureIo();
  const code = await main(args, { io });
  return { code, out: new TextDecoder().decode(io.stdout()) + io.stderr() };
}

/** A flows entry: a `struct flow_key` and a `struct flow_value`. */
const FLOW =
  `      - key: { saddr: 167772161, daddr: 167772162, sport: 40000, dport: 443, proto: 6 }
        value:
          comm: curl
          state: FLOW_ESTABLISHED
          pid: 4242
          urgent: 1
          prio: 5
          mark: 2748
          stats: { packets: 3, bytes: 7 }
          ports: [1, 2, 65535, 4]
          delta: -7
`;

kernelTest(
  "plan checks an object entry's map entries against the object's BTF, with the file, line, column and entry",
  async () => {
    await using fs = await privateBpffs();
    await using dir = await tempDir("bpfxmaps");
    const file = `${dir.path}/host.yaml`;
    const state = `${dir.path}/state`;
    const head = `name: host
objects:
  - name: m
    path: ${MAPS}
    pinDir: ${fs.path}/m
    pinByNameRoot: ${fs.path}
maps:
  - name: config
    object: m
    map: flows
    entries:
`;
    const before = await tree(fs.path);
    const cases: [string, RegExp][] = [
      [
        FLOW.replace("state: FLOW_ESTABLISHED", "state: FLOW_BOGUS"),
        /host\.yaml:15:18: maps\[0\] "config": entries\[0\]'s value does not fit map "flows": struct flow_value: field "state": expected /,
      ],
      [
        FLOW.replace("sport: 40000", "sport: 70000"),
        /host\.yaml:12:59: maps\[0\] "config": entries\[0\]'s key does not fit map "flows": struct flow_key: field "sport": expected /,
      ],
      [
        FLOW.replace("comm: curl", "comm: a-name-longer-than-sixteen"),
        /maps\[0\] "config": entries\[0\]'s value does not fit map "flows": .*field "comm"/,
      ],
    ];
    for (const [entries, want] of cases) {
      await Deno.writeTextFile(file, head + entries);
      for (const verb of ["plan", "apply"]) {
        const r = await cli([verb, file, "--state", state]);
        assert.equal(r.code, 1, `${verb}: ${r.out}`);
        assert.match(r.out, want);
      }
    }
    assert.deepEqual(await tree(fs.path), before, "nothing loaded");
    assert.equal(await exists(state), false, "no state directory made");

    // Entries that fit: planned, applied, then kept.
    await Deno.writeTextFile(file, head + FLOW);
    const planned = await cli(["plan", file, "--state", state]);
    assert.equal(planned.code, 2, planned.out);
    try {
      const applied = await cli(["apply", file, "--state", state]);
      assert.equal(applied.code, 0, applied.out);
      const again = await cli(["plan", file, "--state", state]);
      assert.equal(again.code, 0, again.out);
    } finally {
      await Deno.writeTextFile(file, "name: host\n");
      const r = await cli(["apply", file, "--state", state]);
      assert.equal(r.code, 0, r.out);
    }
  },
  { needs: ["iterator task"] },
);

kernelTest(
  "plan checks a pinned map's entries against the map's BTF",
  async () => {
    await using fs = await privateBpffs();
    await using dir = await tempDir("bpfxmaps");
    load(MAPS, { pinDir: `${fs.path}/m`, pinByNameRoot: fs.path });
    try {
      const file = `${dir.path}/host.yaml`;
      const state = `${dir.path}/state`;
      const text = (entries: string) =>
        `name: host\nmaps:\n  - name: slots\n    map: ${fs.path}/m/maps/slots\n    entries:\n${entries}`;
      await Deno.writeTextFile(
        file,
        text(
          `      - key: 1\n        value: 2\n      - key: 2\n        value: x\n`,
        ),
      );
      const r = await cli(["plan", file, "--state", state]);
      assert.equal(r.code, 1, r.out);
      assert.match(
        r.out,
        /host\.yaml:9:16: maps\[0\] "slots": entries\[1\]'s value does not fit map ".*\/slots": expected /,
      );
      await Deno.writeTextFile(
        file,
        text(`      - key: 1\n        value: 2\n`),
      );
      const ok = await cli(["plan", file, "--state", state]);
      assert.equal(ok.code, 2, ok.out);
      assert.equal(await exists(state), false, "plan made no state directory");
    } finally {
      unpin(`${fs.path}/m`, { recursive: true });
    }
  },
  { needs: ["iterator task"] },
);
