// The README's TypeScript examples type-check against mod.ts.
import { assert } from "./_assert.ts";
import { ROOT } from "./_kernel.ts";

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
