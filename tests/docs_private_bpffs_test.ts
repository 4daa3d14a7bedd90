// docs/load.md's by-name root example runs as written where /sys/fs/bpf is
// not a bpffs (a tmpfs over it, in a mount namespace of the test's own): the
// commands are taken from the page, with its directory made the test's own.
import { assert, kernelTest, ROOT, run } from "./_kernel.ts";

/** The `$ ` commands of the console block of `page` that holds `marker`. */
async function commands(page: string, marker: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${ROOT}/${page}`);
  const block = [...text.matchAll(/```console\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes(marker));
  assert.ok(block !== undefined, `${page} has a console block with ${marker}`);
  return block.split("\n").filter((l) => l.startsWith("$ ")).map((l) =>
    l.slice(2)
  );
}

kernelTest(
  "docs/load.md: the load example with --pin-by-name-root works on a private bpffs, with no bpffs at /sys/fs/bpf",
  async () => {
    const cmds = await commands("docs/load.md", "--pin-by-name-root");
    assert.ok(cmds.length >= 2, cmds.join("\n"));
    const dir = await Deno.makeTempDir({ prefix: "bpfxdocs-" });
    try {
      const script = [
        "set -eu",
        "mount --make-rprivate /",
        "mount -t tmpfs none /sys/fs/bpf",
        `bpfx() { '${ROOT}/bpfx' "$@"; }`,
        `cd '${ROOT}'`,
        ...cmds.map((c) => c.replaceAll("/tmp/bpfx-load", `${dir}/bpf`)),
        // The map went where the page says, not to /sys/fs/bpf.
        `test ! -e /sys/fs/bpf/hello_total`,
      ].join("\n");
      const o = await run("unshare", ["-m", "bash", "-c", script]);
      assert.equal(o.code, 0, `${o.stdout}\n${o.stderr}`);
      assert.match(o.stdout, new RegExp(`^${dir}/bpf/hello_total +map `, "m"));
    } finally {
      // The bpffs went with the namespace; the directory is empty.
      await Deno.remove(dir, { recursive: true });
    }
  },
  { needs: [] },
);
