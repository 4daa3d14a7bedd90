// The README's TypeScript examples type-check against mod.ts.
import { assert } from "./_assert.ts";
import { kernelTest, ROOT } from "./_kernel.ts";

const DENO = `${ROOT}/node_modules/.bin/deno`;

/** The ```ts blocks of the README that import the local mod.ts. */
function examples(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
  );
  return blocks.filter((b) => b.includes(`from "./mod.ts"`));
}

Deno.test("README TypeScript examples type-check against mod.ts", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const blocks = examples(readme);
  assert.ok(
    blocks.length >= 2,
    `expected at least two examples, found ${blocks.length}`,
  );
  const dir = await Deno.makeTempDir({ prefix: "bpfxreadme-" });
  try {
    const files: string[] = [];
    for (const [i, block] of blocks.entries()) {
      const file = `${dir}/example${i}.ts`;
      await Deno.writeTextFile(
        file,
        block.replaceAll(`from "./mod.ts"`, `from "${ROOT}/mod.ts"`),
      );
      files.push(file);
    }
    const out = await new Deno.Command(DENO, {
      args: ["check", `--config=${ROOT}/deno.json`, ...files],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr);
    assert.equal(
      out.code,
      0,
      `deno check of the README examples failed:\n${text}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples() finds only blocks importing mod.ts", () => {
  const md =
    'x\n```ts\nimport { a } from "./mod.ts";\n```\n```ts\nconst b = 1;\n```\n';
  assert.deepEqual(examples(md), ['import { a } from "./mod.ts";\n']);
});

Deno.test("the README's error example runs and handles a missing object as a BpfError", async () => {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const block = examples(readme).find((b) => b.includes("VerifierError"));
  assert.ok(block !== undefined, "no error example in the README");
  const dir = await Deno.makeTempDir({ prefix: "bpfxreadme-" });
  try {
    const file = `${dir}/errors.ts`;
    await Deno.writeTextFile(
      file,
      block.replaceAll(`from "./mod.ts"`, `from "${ROOT}/mod.ts"`),
    );
    // Run where "bad.o" does not exist: load() throws a not-found error,
    // which the example must catch as a BpfError (not rethrow, not miss).
    const out = await new Deno.Command(DENO, {
      args: ["run", "-A", "--no-check", `--config=${ROOT}/deno.json`, file],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `the example failed:\n${stderr}`);
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2, `two lines expected:\n${stdout}`);
    // The map: no pin there (NotFound), or not a bpffs (a BpfError message).
    assert.ok(lines[0]!.length > 0);
    assert.match(
      lines[1]!,
      /^not-found \S+ 2 /,
      `the load's error:\n${stdout}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The ```sh block of the README that follows `marker`. */
function shBlockAfter(markdown: string, marker: string): string {
  const at = markdown.indexOf(marker);
  assert.ok(at >= 0, `no "${marker}" in the README`);
  const m = markdown.slice(at).match(/```sh\n([\s\S]*?)```/);
  assert.ok(m !== null, `no sh block after "${marker}"`);
  return m[1]!;
}

kernelTest(
  "the README's map commands run as written, on a bpffs at /sys/fs/bpf of their own",
  async () => {
    const readme = await Deno.readTextFile(`${ROOT}/README.md`);
    const block = shBlockAfter(readme, "runs this block as written");
    const lines = block.trim().split("\n");
    assert.ok(lines.length >= 8, block);
    assert.ok(lines.every((l) => l.startsWith("bpfx ")), block);
    // Each line as written, `bpfx` being the checkout's launcher, in a mount
    // namespace of its own with a fresh bpffs on /sys/fs/bpf: the host's
    // /sys/fs/bpf is not touched.
    const script = [
      "set -e",
      "mount -t bpf bpf /sys/fs/bpf",
      `bpfx() { "${ROOT}/bpfx" "$@"; }`,
      ...lines.map((l) => `echo "+ ${l.replaceAll('"', '\\"')}"; ${l}`),
    ].join("\n");
    const out = await new Deno.Command("unshare", {
      args: ["-m", "--propagation", "private", "bash", "-c", script],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${stdout}\n${stderr}`);
    assert.match(stdout, /key +42\nvalue +7\n/, stdout);
    assert.match(stdout, /"formatted":\{"key":42,"value":7\}/, stdout);
    assert.match(
      stdout,
      /\+ bpfx map pop [^\n]*\nvalue +07 00 00 00 00 00 00 00\n/,
    );
  },
  { needs: ["iterator task"] },
);
